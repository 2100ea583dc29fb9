"""Reproducible sampling of reasoning paths: each path draws from its own seeded generator.

transformers samples a batch from one random generator, so a row's tokens depend on which rows
share its batch, and a rerun with another batch size (or a resumed job) gives other paths. Here
path j of question q has its own generator, seeded by (seed, q, j), that draws one uniform number
per vocabulary entry at every step. The draw becomes Gumbel noise added to the log-probabilities
of the temperature-, top-k- and top-p-warped logits (transformers' own warpers), and the decoding
stays greedy: the argmax of log-probabilities plus Gumbel noise is an exact sample of the warped
distribution (the Gumbel-max trick). So the engine's greedy machinery (static cache, shared
prefix, stops on the device) serves sampling unchanged, and a path is the same whatever the batch
size or order, on the same hardware and dtype.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from transformers import LogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper


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
    """The generator seed of path ``path`` of question ``question`` (63 bits of a sha256)."""
    digest = hashlib.sha256(f"{seed}\x00{question}\x00{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class PathSampler(LogitsProcessor):
    """Turns a batch's next-token scores into Gumbel-perturbed log-probabilities whose argmax is a
    sample of the warped distribution, each row with noise from its own generator."""

    def __init__(self, sampling: Sampling, seeds: Sequence[int], device: torch.device):
        self.warpers = [TemperatureLogitsWarper(sampling.temperature)]
        if sampling.top_k is not None:
            self.warpers.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p is not None:
            self.warpers.append(TopPLogitsWarper(sampling.top_p))
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """[B, V] scores -> [B, V] log-probabilities plus Gumbel noise (filtered tokens stay -inf)."""
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        logp = torch.log_softmax(scores.float(), dim=-1)
        vocab = scores.shape[-1]
        uniform = torch.stack(
            [torch.rand(vocab, generator=g, device=scores.device, dtype=torch.float32) for g in self.generators]
        )
        tiny = torch.finfo(torch.float32).tiny
        return logp - torch.log(-torch.log(uniform.clamp(min=tiny, max=1 - 1e-7)))
