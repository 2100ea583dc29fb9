"""Attention over a prefix that every row of a batch shares, read once per step instead of once per row.

A few-shot unit's prompts all start with the same ~700–900 exemplar tokens. Copying that prefix's
keys and values into every row's cache makes each decode step read it once per row, and on a CPU
that memory traffic is most of the step. Here the cache holds only each row's own tokens (its
question and what it generates); the prefix's keys and values are kept once.

Each layer's attention is two fused attention kernels and a merge (the cascade form of attention):
the rows' queries over the prefix, the whole batch as one sequence of queries against the one prefix
copy; and each row's queries over its own cache under the padding and causal mask. Each kernel
returns its output and the log-sum-exp of its scores (kept in float32 inside the kernel), and the
two outputs are weighted by their shares of the softmax, ``sigmoid(lse_own - lse_prefix)``: exactly
the softmax over [prefix; own tokens], up to float summation order. Grouped-query heads are folded
into the query dimension ([B, H, Q, d] as [B, kv_heads, H/kv_heads * Q, d], a view), so no key or
value is ever copied per query head, and nothing of the cache is copied per step.

The kernels are the ones PyTorch's ``scaled_dot_product_attention`` dispatches to, called where they
also return the log-sum-exp: the flash-attention kernel on a CPU, the memory-efficient kernel on
CUDA (it takes float32, float16 and bfloat16 and an additive mask).

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
_ACTIVE: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # layer -> the prefix's keys, values [1, kv, P, d], float32
_BIAS_ALIGNMENT = 16  # the memory-efficient CUDA kernel reads an additive mask in rows of 16 elements


def attend(query, key, value, mask, scale) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused attention of ``query`` [B, h, Q, d] over ``key``/``value`` [B, h, K, d] (as many heads)
    under the additive ``mask`` (None, or broadcastable to [B, h, Q, K]): the output [B, h, Q, d]
    and each query's log-sum-exp of its scaled, masked scores [B, h, Q] (float32)."""
    if query.device.type == "cpu":
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, attn_mask=mask, scale=scale
        )
    if mask is not None:
        b, h, q, k = query.shape[0], query.shape[1], query.shape[2], key.shape[2]
        pad = -k % _BIAS_ALIGNMENT
        if pad:  # as SDPA does: padded storage, the same values
            mask = torch.nn.functional.pad(mask, (0, pad))[..., :k]
        mask = mask.expand(b, h, q, k)
    out, lse, _, _ = torch.ops.aten._scaled_dot_product_efficient_attention(
        query.contiguous(), key, value, mask, True, scale=scale
    )
    return out, lse[..., : query.shape[2]]  # the kernel pads the log-sum-exp's query dimension


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention of ``query`` [B, H, Q, d] over the shared prefix of ``module``'s layer, then the rows'
    own ``key``/``value`` [B, kv_heads, L, d] under ``attention_mask`` (additive, [B, 1, Q, L])."""
    prefix_keys, prefix_values = _ACTIVE[module.layer_idx]
    b, heads, q, d = query.shape
    kv_heads, own = key.shape[1], key.shape[2]
    groups = heads // kv_heads
    scaling = scaling if scaling is not None else d**-0.5
    # [B, H, Q, d] -> [B, kv, G*Q, d]: query head h reads key/value head h // G (transformers' repeat_kv).
    folded = query.reshape(b, kv_heads, groups * q, d)
    mask = attention_mask[..., :own] if attention_mask is not None else None
    if mask is not None and groups > 1 and q > 1:  # (one query: its mask row broadcasts over the groups)
        mask = mask.repeat(1, 1, groups, 1)  # the same mask for each group's block of Q queries
    out_own, lse_own = attend(folded, key, value, mask, scaling)
    # The whole batch as one row of B*G*Q queries against the one prefix copy: no mask, every row sees
    # it all. In float32 (the prefix is kept so): its output, most of the attention, is not rounded to
    # half precision before the merge, so that the merged result is rounded once, as SDPA's is.
    batch_queries = folded.transpose(0, 1).reshape(1, kv_heads, b * groups * q, d).float()
    out_prefix, lse_prefix = attend(batch_queries, prefix_keys, prefix_values, None, scaling)
    out_prefix = out_prefix.view(kv_heads, b, groups * q, d).transpose(0, 1)
    lse_prefix = lse_prefix.view(kv_heads, b, groups * q).transpose(0, 1)
    own_share = torch.sigmoid(lse_own - lse_prefix).unsqueeze(-1)  # float32: the own tokens' part of the softmax
    out = torch.lerp(out_prefix, out_own.float(), own_share).to(query.dtype)
    return out.reshape(b, heads, q, d).transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, eager_mask)


@contextmanager
def shared_prefix(model, kv: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[None]:
    """While the block runs, ``model`` attends to the prefix ``kv`` (per layer: keys and values of
    one row, [1, kv_heads, P, d]) before each row's own cache."""
    config = model.config
    saved = config._attn_implementation
    _ACTIVE.clear()
    _ACTIVE.update({layer: (k.float(), v.float()) for layer, (k, v) in enumerate(kv)})
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = saved
        _ACTIVE.clear()
