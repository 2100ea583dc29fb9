"""Encoder attention for T5-style models that runs each row over its own keys, without a padded mask.

A T5 encoder adds a learned relative-position bias, [1, H, L, L], to every attention score. With
padded rows, transformers' SDPA path combines that bias with the padding mask into one
[B, H, L, L] tensor (``torch.where``, then a contiguous copy) in every layer: for a batch of 16
few-shot prompts of ~2,000 tokens that is a gigabyte written and copied per layer, and it costs
several times the attention itself (measured on the demo's coin-flip prompts: 9.9 s of a 12 s unit).

Here, when the padding is on the right (as the engine pads seq2seq rows), each row attends to its
first ``n`` keys with the shared bias sliced to them — what the mask would have selected — so the
bias is never copied per row. Every query position is computed, padded ones included, as with the
mask. Anything else (a decoder, a mask that is not a right-padding mask, no position bias) goes
to transformers' SDPA function unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

NAME = "cotrepro_encoder_rows"
# The layers of a stack get the same mask and position-bias objects: each is read once, kept under
# "last" beside what was made of it, and let go when the context ends.
_LENGTHS: dict[str, tuple[torch.Tensor, list[int] | None]] = {}  # the mask, each row's real keys
_BIASES: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # T5's permuted bias, a contiguous copy


def right_padding_lengths(mask: torch.Tensor | None, queries: int) -> list[int] | None:
    """Each row's number of real keys when the boolean ``mask`` [B, 1, Q, S] lets every query see
    exactly the first ``n`` keys of its row (right padding); otherwise None."""
    if mask is None or mask.dtype != torch.bool or mask.dim() != 4 or mask.shape[1] != 1:
        return None
    keys = mask[:, 0, 0, :]  # [B, S]: what the first query may see
    lengths = keys.sum(-1)
    positions = torch.arange(keys.shape[-1], device=keys.device)
    if not torch.equal(keys, positions < lengths[:, None]):
        return None
    if not torch.equal(mask[:, 0].expand(-1, queries, -1), keys[:, None, :].expand(-1, queries, -1)):
        return None  # some query sees other keys than the first: not a padding-only mask
    return lengths.tolist()


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, position_bias=None, **kwargs):
    """Attention of ``query`` [B, H, L, d] over ``key``/``value`` [B, H, S, d] with T5's additive
    ``position_bias`` [1, H, L, S]: row by row over the real keys for a right-padded encoder batch,
    transformers' SDPA function otherwise."""
    lengths = None
    # Only a T5 encoder's bias-carrying, head-for-head attention, at inference.
    rows_apply = position_bias is not None and position_bias.shape[0] == 1 and query.shape[1] == key.shape[1]
    if rows_apply and not getattr(module, "is_decoder", True) and not module.training:
        seen = _LENGTHS.get("last")
        if seen is None or seen[0] is not attention_mask:
            _LENGTHS["last"] = seen = (attention_mask, right_padding_lengths(attention_mask, query.shape[2]))
        lengths = seen[1]
    if lengths is None:
        return sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            scaling=scaling,
            dropout=dropout,
            position_bias=position_bias,
            **kwargs,
        )
    made = _BIASES.get("last")
    if made is None or made[0] is not position_bias:
        _BIASES["last"] = made = (position_bias, position_bias.to(query.dtype).contiguous())
    bias = made[1]  # [1, H, L, S], shared by the rows
    out = torch.empty_like(query)
    for row, n in enumerate(lengths):
        out[row : row + 1] = torch.nn.functional.scaled_dot_product_attention(
            query[row : row + 1],
            key[row : row + 1, :, :n],
            value[row : row + 1, :, :n],
            attn_mask=bias[..., :n],
            scale=scaling,
        )
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


@contextmanager
def encoder_rows(model) -> Iterator[None]:
    """While the block runs, a seq2seq ``model`` that uses SDPA attention uses :func:`attention`
    (its encoder and decoder configs both point at it; the decoder's calls fall through to SDPA)."""
    configs = [c for c in {id(c): c for c in _configs(model)}.values() if c._attn_implementation == "sdpa"]
    for config in configs:
        config._attn_implementation = NAME
    try:
        yield
    finally:
        _LENGTHS.clear()
        _BIASES.clear()
        for config in configs:
            config._attn_implementation = "sdpa"


def _configs(model) -> list:
    """The configs whose ``_attn_implementation`` the model's attention layers read."""
    found = [model.config]
    for part in ("encoder", "decoder"):
        sub = getattr(model, part, None)
        if sub is not None and getattr(sub, "config", None) is not None:
            found.append(sub.config)
    return found
