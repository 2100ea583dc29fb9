"""A generated continuation and how it ended, made the same way by every backend: where a row
ends (end of sequence, the first token that completes a stop sequence, the budget), how its text is
cut at a stop sequence, and why it stopped. Backends differ only in how they compute tokens, so
their rows can only differ where their tokens do. Nothing here imports transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Completion:
    """One generated continuation and how it ended."""

    text: str  # decoded, cut at the first stop sequence
    prompt_tokens: int
    generated_tokens: int  # tokens the model produced for this row (up to the stop or end of sequence)
    stop_reason: str  # "eos", "stop_sequence" or "max_new_tokens"
    # The generated tokens' summed log-probability under the model (unwarped, up to the cut), where
    # the backend reports it (a server offering logprobs, for sampled paths); a verifier's weight.
    logprob: float | None = None

    @property
    def hit_max_new_tokens(self) -> bool:
        """True when generation ran out of budget rather than ending by itself."""
        return self.stop_reason == "max_new_tokens"


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def eos_token_ids(generation_eos, tokenizer_eos: int | None) -> set[int]:
    """The ids that end a row: the generation config's (one id or a list) and the tokenizer's."""
    ids = generation_eos if isinstance(generation_eos, list) else [generation_eos]
    return {i for i in [*ids, tokenizer_eos] if i is not None}


def row_completion(
    tokens: list[int], n_prompt: int, max_new_tokens: int, decode: Callable, stop: Sequence[str], eos_ids: set[int]
) -> Completion:
    """A row's text and how it ended. Rows that finished early are padded after their last token;
    the row ends at its first end-of-sequence token or at the first token that completes a stop
    sequence, whichever comes first. ``decode`` turns token ids into text (special tokens skipped)."""
    first_eos = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
    n = len(tokens) if first_eos is None else first_eos + 1
    stopped_at = stop_position(tokens[:n], decode, stop)
    n = min(n, stopped_at) if stopped_at is not None else n
    text, cut = cut_at_stop(decode(tokens[:n]), stop)
    if cut:
        reason = "stop_sequence"
    elif first_eos is not None and first_eos < n:
        reason = "eos"
    else:
        reason = "max_new_tokens" if n >= max_new_tokens else "eos"
    return Completion(text=text, prompt_tokens=int(n_prompt), generated_tokens=n, stop_reason=reason)


def stop_position(tokens: list[int], decode: Callable, stop: Sequence[str]) -> int | None:
    """The fewest leading tokens whose text holds a stop sequence (None when none does): a binary
    search, since a longer prefix of the row holds every stop a shorter one holds."""

    def holds(k: int) -> bool:
        return cut_at_stop(decode(tokens[:k]), stop)[1]

    if not stop or not holds(len(tokens)):
        return None
    lo, hi = 1, len(tokens)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if holds(mid) else (mid + 1, hi)
    return lo
