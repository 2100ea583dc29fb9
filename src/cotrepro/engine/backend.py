"""The backend protocol: what the workflow's runner needs from a generation backend, whatever
library or server is behind it. The backends themselves are named in :mod:`cotrepro.engine.loader`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cotrepro.engine.completion import Completion
    from cotrepro.engine.sampling import Sampling


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
