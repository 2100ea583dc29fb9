"""What every decoder shares, whatever computes its logits: batches run longest first with the
batch size halved on out-of-memory errors, the ``auto`` batch-size probe, and the turning of a
row's generated tokens into a :class:`Completion` (end of sequence, stop sequences, budget).

Both backends (transformers' ``generate`` in :mod:`cotrepro.generation.engine`, the from-scratch
Llama in :mod:`cotrepro.generation.scratch`) go through these functions, so that their rows can
only differ where their tokens do. Nothing here imports transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from cotrepro.generation.backend import Completion

log = logging.getLogger("cotrepro.generation")

CPU_BATCH_SIZE = 16  # ``auto`` on a CPU: the fastest of 4, 8, 16 in benchmarks/generation_bench.py
_AUTO_CAP = 256  # the largest batch ``auto`` tries

RunBatch = Callable[..., list]
"""``run_batch(inputs, max_new_tokens, cache_tokens=None)``: one batch's results, in its order
(``cache_tokens``: size the KV cache for this many tokens a row, as the probe does)."""


class GenerationOOM(RuntimeError):
    """Out of memory even at batch size one: the model does not fit this device."""


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def eos_token_ids(generation_eos, tokenizer_eos: int | None) -> set[int]:
    """The ids that end a row: the generation config's (one id or a list) and the tokenizer's."""
    ids = generation_eos if isinstance(generation_eos, list) else [generation_eos]
    return {i for i in [*ids, tokenizer_eos] if i is not None}


def in_batches(items: list, run, batch_size: int, device: torch.device, align: int = 1) -> tuple[list, int]:
    """``run(chunk)`` over ``items`` in batches of ``batch_size``, results concatenated; with
    ``align``, a batch that can hold whole groups of ``align`` items (a question's sampled paths)
    holds whole groups. An out-of-memory error halves the batch size and retries the batch, down to
    one item. Returns the results and the final batch size."""
    results: list = []
    pos = 0
    while pos < len(items):
        size = batch_size // align * align if batch_size >= align else batch_size
        chunk = items[pos : pos + size]
        try:
            results += run(chunk)
        except torch.cuda.OutOfMemoryError as err:
            torch.cuda.empty_cache()
            if batch_size == 1:
                raise GenerationOOM(
                    f"out of memory at batch size 1 on {device}; use a larger GPU or more GPUs"
                ) from err
            batch_size = max(1, batch_size // 2)
            log.warning("out of memory with a batch of %d; retrying with batch size %d", len(chunk), batch_size)
            continue
        pos += len(chunk)
    return results, batch_size


def generate_longest_first(
    inputs: Sequence[Sequence[int]], max_new_tokens: int, batch_size: int, run_batch: RunBatch, device: torch.device
) -> tuple[list, int]:
    """Results of ``run_batch`` over ``inputs`` in input order, batched longest first (memory trouble
    shows at once), halving the batch size on out-of-memory errors; returns them and the final size."""
    inputs = [list(x) for x in inputs]
    order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    done, batch_size = in_batches(
        order, lambda idx: run_batch([inputs[i] for i in idx], max_new_tokens), batch_size, device
    )
    results: list = [None] * len(inputs)
    for i, result in zip(order, done, strict=True):
        results[i] = result
    return results, batch_size


class BatchSizer:
    """A backend's batch size, kept in one place for every backend: the setting (a number or
    ``auto``), the size it started at (``auto``: 16 on a CPU, probed once on a GPU) and the size now,
    after any out-of-memory halving."""

    def __init__(self, setting: int | str):
        self.auto = setting == "auto"
        self.initial = self.current = CPU_BATCH_SIZE if self.auto else int(setting)
        self.probed = False

    def probe(self, run_batch: RunBatch, longest: list[int], max_new_tokens: int) -> int:
        """Start at the largest batch of the longest input that fits the device (:func:`probe_batch_size`)."""
        self.probed = True
        self.initial = self.current = probe_batch_size(run_batch, longest, max_new_tokens)
        return self.initial

    def probe_once(self, run_batch: RunBatch, inputs: Sequence[Sequence[int]], max_new_tokens: int, device) -> None:
        """With ``auto`` on a GPU, probe at the longest of ``inputs`` the first time only."""
        if self.auto and not self.probed and device.type == "cuda" and inputs:
            self.probe(run_batch, list(max(inputs, key=len)), max_new_tokens)

    def longest_first(
        self, inputs: Sequence[Sequence[int]], max_new_tokens: int, run_batch: RunBatch, device: torch.device
    ) -> list:
        """:func:`generate_longest_first` at the current size, which any halving lowers for later calls."""
        results, self.current = generate_longest_first(inputs, max_new_tokens, self.current, run_batch, device)
        return results

    def batches(self, items: list, run, device: torch.device, align: int = 1) -> list:
        """:func:`in_batches` at the current size, which any halving lowers for later calls."""
        results, self.current = in_batches(items, run, self.current, device, align)
        return results

    def describe(self) -> dict:
        """The batch-size fields of a backend's description."""
        return {
            "batch_size_setting": "auto" if self.auto else self.initial,
            "batch_size": self.initial,
            "final_batch_size": self.current,
        }


def probe_batch_size(run_batch: RunBatch, longest: list[int], max_new_tokens: int) -> int:
    """The largest power-of-two batch (up to 256) of the longest prompt whose prefill and full-length
    cache fit the device, found by generating two tokens at doubling sizes."""
    best, size = 1, 1
    while size <= _AUTO_CAP:
        try:
            run_batch([longest] * size, 2, cache_tokens=len(longest) + max_new_tokens)
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            torch.cuda.empty_cache()
        best, size = size, size * 2
    log.info("batch_size auto: %d rows fit at %d prompt tokens", best, len(longest))
    return best


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
