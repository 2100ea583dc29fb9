"""What the runner needs from a generation backend, independent of the library behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cotrepro.generation.sampling import Sampling


@dataclass(frozen=True)
class Completion:
    """One generated continuation and how it ended."""

    text: str  # decoded, cut at the first stop sequence
    prompt_tokens: int
    generated_tokens: int  # tokens the model produced for this row (up to the stop or end of sequence)
    stop_reason: str  # "eos", "stop_sequence" or "max_new_tokens"

    @property
    def hit_max_new_tokens(self) -> bool:
        """True when generation ran out of budget rather than ending by itself."""
        return self.stop_reason == "max_new_tokens"


class Backend(Protocol):
    """A model that continues prompts greedily, in batches.

    A job tokenizes each model input once, with :meth:`encode`, and hands the token ids to
    :meth:`generate`; their lengths also order the work and flag inputs over the context.
    """

    context_length: int | None
    batch_size: int  # rows the runner hands to generate at a time (and journals together)

    def format_prompt(self, prompt: str) -> str:
        """The exact text fed to the model for a method's prompt (plain, or wrapped in a chat template)."""

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of model inputs, as the model will see them (special tokens included)."""

    def prepare(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """Get ready for one unit's first-stage inputs (token ids): share their common prefix, size
        the batches. Called once per unit, before its batches."""

    def generate(self, inputs: Sequence[str] | Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations in input order, of token ids from :meth:`encode` or of formatted texts
        (all of one kind), which are then encoded here."""

    def sample(
        self, inputs: Sequence[Sequence[int]], names: Sequence[str], max_new_tokens: int, sampling: Sampling
    ) -> list[list[Completion]]:
        """``sampling.paths`` sampled continuations of each input's token ids, in input order; path j of
        input ``names[i]`` draws from a generator seeded by (``sampling.seed``, name, j), so it is the
        same whatever the batch size (self-consistency)."""

    def describe(self) -> dict:
        """Provenance: dtype, device, batch size, parameter count, library versions."""


BACKENDS = ("hf", "scratch")
"""``hf``: transformers' model classes and ``generate``; ``scratch``: the from-scratch Llama
(:mod:`cotrepro.generation.scratch_llama`), which runs Llama-architecture models only."""


def load_backend(name: str, model_dir, architecture: str, *, devices: int = 1, **settings) -> Backend:
    """The backend ``name`` with the model of ``model_dir`` loaded; ``settings`` are the keyword
    arguments both backends take (device, dtype, batch_size, stop, chat_template, max_context)."""
    if name == "hf":
        from cotrepro.generation.hf import HFBackend

        return HFBackend(model_dir, architecture, devices=devices, **settings)
    if name == "scratch":
        from cotrepro.generation.scratch import ScratchBackend

        return ScratchBackend(model_dir, architecture, **settings)  # one device: it spreads over no more
    raise ValueError(f"unknown backend {name!r}; allowed values: {', '.join(BACKENDS)}")
