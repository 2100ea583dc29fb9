"""Attention over a prefix that every row of a batch shares, read once per step instead of once per row.

A few-shot unit's prompts all start with the same ~700–900 exemplar tokens. Copying that prefix's
keys and values into every row's cache makes each decode step read it once per row, and on a CPU
that memory traffic is most of the step. Here the cache holds only each row's own tokens (its
question and what it generates); the prefix's keys and values are kept once, and attention is
computed over both in one softmax: the prefix part with the batch folded into the query dimension
(one matrix product against the single prefix copy), the per-row part as usual. The result is the
attention the unshared prompt would get (same scores, same softmax), up to float summation order.

transformers calls attention through a registry (``AttentionInterface``); :func:`shared_prefix`
switches a causal model to this implementation while a batch that shares a prefix generates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

NAME = "cotrepro_shared_prefix"
_ACTIVE: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # layer index -> the prefix's keys, values


def _fold(x: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """[B, H, Q, d] -> [kv_heads, B * groups * Q, d]: every query that reads one key/value head, in a row."""
    b, h, q, d = x.shape
    return x.view(b, kv_heads, h // kv_heads, q, d).transpose(0, 1).reshape(kv_heads, -1, d)


def _unfold(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of :func:`_fold` for a result with a new last dimension."""
    b, h, q, _ = shape
    kv_heads = x.shape[0]
    return x.view(kv_heads, b, h // kv_heads, q, x.shape[-1]).transpose(0, 1).reshape(b, h, q, x.shape[-1])


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention of ``query`` [B, H, Q, d] over the shared prefix of ``module``'s layer, then the rows'
    own ``key``/``value`` [B, kv_heads, L, d] under ``attention_mask`` (additive, [B, 1, Q, L])."""
    prefix_keys, prefix_values = _ACTIVE[module.layer_idx]  # [kv_heads, P, d]
    kv_heads, n_prefix = key.shape[1], prefix_keys.shape[1]
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    groups = query.shape[1] // kv_heads
    own_keys = key.repeat_interleave(groups, dim=1) if groups > 1 else key
    own_values = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    prefix_scores = _unfold(torch.bmm(_fold(query, kv_heads), prefix_keys.transpose(1, 2)), query.shape) * scaling
    own_scores = torch.matmul(query, own_keys.transpose(2, 3)) * scaling
    if attention_mask is not None:
        own_scores = own_scores + attention_mask[..., : own_keys.shape[2]]
    weights = torch.softmax(torch.cat([prefix_scores, own_scores], dim=-1), dim=-1, dtype=torch.float32)
    weights = weights.to(query.dtype)
    out = _unfold(torch.bmm(_fold(weights[..., :n_prefix].contiguous(), kv_heads), prefix_values), query.shape)
    out = out + torch.matmul(weights[..., n_prefix:], own_values)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)


@contextmanager
def shared_prefix(model, kv: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[None]:
    """While the block runs, ``model`` attends to the prefix ``kv`` (per layer: keys and values of
    one row, [1, kv_heads, P, d]) before each row's own cache."""
    config = model.config
    saved = config._attn_implementation
    _ACTIVE.clear()
    _ACTIVE.update({layer: (k[0], v[0]) for layer, (k, v) in enumerate(kv)})
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = saved
        _ACTIVE.clear()
