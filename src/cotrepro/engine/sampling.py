"""Reproducible sampling of reasoning paths: each path's noise is a function of its seed, its step
and the vocabulary index, drawn for the whole batch at once.

transformers samples a batch from one random generator, so a row's tokens depend on which rows
share its batch, and a rerun with another batch size (or a resumed job) gives other paths. Here
path j of question q has a 63-bit seed from (seed, q, j), and at step t the uniform number of
vocabulary entry v is a counter-based draw: an integer hash of (path seed, t, v), computed for every
row and entry of the batch in one vectorised call per step, on the device, with no generator state.
The draw becomes Gumbel noise added to the log-probabilities of the temperature-, top-k- and
top-p-warped logits (transformers' own warpers), and the decoding stays greedy: the argmax of
log-probabilities plus Gumbel noise is an exact sample of the warped distribution (the Gumbel-max
trick). So the engine's greedy machinery (static cache, compiled step, shared prefix, stops on the
device) serves sampling unchanged, and a path is the same whatever the batch size or order, and
after a resume, on the same hardware and dtype.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # 2**32 / golden ratio: spreads consecutive step numbers over the 32 bits
_UNIFORM_BITS = 24  # a float32 holds 24 bits exactly


@dataclass(frozen=True)
class Sampling:
    """How self-consistency samples its paths (config key ``sampling``)."""

    paths: int
    temperature: float
    top_k: int | None
    top_p: float | None
    seed: int

    @property
    def greedy(self) -> bool:
        """Temperature 0: every path is the greedy continuation."""
        return self.temperature == 0

    def describe(self) -> dict:
        """The settings, for metadata."""
        return asdict(self)


def path_seed(seed: int, question: str, path: int) -> int:
    """The seed of path ``path`` of question ``question`` (63 bits of a sha256)."""
    digest = hashlib.sha256(f"{seed}\x00{question}\x00{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c`` modulo 2**32 for 32-bit values held in int64, without overflowing int64: the
    constant's top bit is added as a shift (a 32 by 31-bit product stays below 2**63)."""
    low = x * (c & 0x7FFFFFFF)
    if c & 0x80000000:
        low = low + ((x & 1) << 31)
    return low & _MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (Chris Wellons' lowbias32: xorshift-multiply rounds whose every output
    bit depends on every input bit) of 32-bit values held in int64, elementwise."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def path_keys(seeds: Sequence[int], device) -> torch.Tensor:
    """Each 63-bit path seed folded into one 32-bit key [B] (int64), both halves hashed in."""
    seeds = torch.tensor(list(seeds), dtype=torch.int64)
    return hash32((seeds & _MASK32) ^ hash32(seeds >> 32)).to(device)


def uniforms(keys: torch.Tensor, step: int, vocab: torch.Tensor) -> torch.Tensor:
    """The uniform numbers in (0, 1) of step ``step`` for rows of ``keys`` [B] and vocabulary
    indices ``vocab`` [V]: [B, V] float32, each a function of (key, step, index) alone."""
    step_keys = hash32((keys + (step + 1) * _GOLDEN) & _MASK32)  # [B]
    bits = hash32(hash32(step_keys[:, None] ^ vocab[None, :]) ^ keys[:, None])  # [B, V]
    top = (bits >> (32 - _UNIFORM_BITS)).to(torch.float32)
    return (top + 0.5) * 2.0**-_UNIFORM_BITS


class PathSampler(LogitsProcessor):
    """Turns a batch's next-token scores into Gumbel-perturbed log-probabilities whose argmax is a
    sample of the warped distribution, row r's noise a function of its path seed ``seeds[r]``, the
    step and the vocabulary index (one batched draw per step)."""

    def __init__(self, sampling: Sampling, seeds: Sequence[int], device: torch.device):
        self.warpers = [TemperatureLogitsWarper(sampling.temperature)]
        if sampling.top_k is not None:
            self.warpers.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p is not None:
            self.warpers.append(TopPLogitsWarper(sampling.top_p))
        self.keys = path_keys(seeds, device)
        self.start: int | None = None  # the sequence length at the first step
        self.vocab: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """[B, V] scores -> [B, V] log-probabilities plus Gumbel noise (filtered tokens stay -inf)."""
        if self.start is None:
            self.start = input_ids.shape[1]
            self.vocab = torch.arange(scores.shape[-1], device=scores.device)
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        logp = torch.log_softmax(scores.float(), dim=-1)
        u = uniforms(self.keys, input_ids.shape[1] - self.start, self.vocab)
        return logp - torch.log(-torch.log(u))
