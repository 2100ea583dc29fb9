"""What the runner needs from a generation backend, independent of the library behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


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
    """A model that continues prompts greedily, in batches."""

    context_length: int | None

    def format_prompt(self, prompt: str) -> str:
        """The exact text fed to the model for a method's prompt (plain, or wrapped in a chat template)."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts of model inputs, as the model will see them."""

    def generate(self, inputs: Sequence[str], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations of already formatted model inputs, in input order."""

    def describe(self) -> dict:
        """Provenance: dtype, device, batch size, parameter count, library versions."""
