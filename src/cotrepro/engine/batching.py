"""What every decoder shares, whatever computes its logits: batches run longest first with the
batch size halved on out-of-memory errors, the ``auto`` batch-size probe, and the turning of a
row's generated tokens into a :class:`Completion` (end of sequence, stop sequences, budget).

Both backends (transformers' ``generate`` in :mod:`cotrepro.engine.hf.engine`, the from-scratch
Llama in :mod:`cotrepro.engine.scratch.backend`) go through these functions, so that their rows can
only differ where their tokens do. Nothing here imports transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

log = logging.getLogger("cotrepro.generation")

CPU_BATCH_SIZE = 16  # ``auto`` on a CPU: the fastest of 4, 8, 16 in benchmarks/generation_bench.py
_AUTO_CAP = 256  # the largest batch ``auto`` tries

RunBatch = Callable[..., list]
"""``run_batch(inputs, max_new_tokens, cache_tokens=None)``: one batch's results, in its order
(``cache_tokens``: size the KV cache for this many tokens a row, as the probe does)."""


class GenerationOOM(RuntimeError):
    """Out of memory even at batch size one: the model does not fit this device."""


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
