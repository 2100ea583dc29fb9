"""Batches and batch sizes, the same for every backend: batches run longest first, out-of-memory
errors in any of the forms CUDA raises them are recognised (:func:`is_out_of_memory`), the memory is
freed and the batch retried at half the size, later (shorter) batches grow back, and ``auto`` probes
the device at the real cache budget with headroom (:func:`probe_batch_size`).

Both backends (transformers' ``generate`` in :mod:`cotrepro.engine.hf.engine`, the from-scratch
Llama in :mod:`cotrepro.engine.scratch.backend`) go through :class:`BatchSizer`, which keeps the
batch-size state in this one place. Nothing here imports transformers.
"""

from __future__ import annotations

import gc
import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch

from cotrepro.engine.memory_guard import GenerationOOM

log = logging.getLogger("cotrepro.generation")

CPU_BATCH_SIZE = 16  # ``auto`` on a CPU: the fastest of 4, 8, 16 in benchmarks/generation_bench.py
_AUTO_CAP = 256  # the largest batch ``auto`` tries
PROBE_HEADROOM = 0.15
"""The fraction of each GPU's memory the ``auto`` probe leaves unused. The probe runs two tokens,
uncompiled, with the whole cache allocated; the real run also holds what it does not: the compiled
step's CUDA-graph memory pool (inductor's ``reduce-overhead`` keeps one per graph tree), the stop
strings' token tables, each step's float32 logits and sampling noise, and the allocator's
fragmentation once batches of other shapes have run. 15% covers these with room to spare on
1B-7B models, and the probe's power-of-two steps often leave more."""

_OOM_MESSAGES = (
    "out of memory",  # torch.OutOfMemoryError's "CUDA out of memory" and the driver's "CUDA error: out of memory"
    "cublas_status_alloc_failed",  # cuBLAS could not allocate its handle or workspace
    "cudnn_status_alloc_failed",
    "cudaerrormemoryallocation",
)

RunBatch = Callable[..., list]
"""``run_batch(inputs, max_new_tokens, budget=None)``: one batch's results, in its order
(``budget``: size the caches for this many new tokens a row, as the probe does while generating two)."""


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is, or was caused by, running out of device memory: torch's
    ``OutOfMemoryError``, and the ``RuntimeError`` / ``torch.AcceleratorError`` forms CUDA raises
    outside the caching allocator (the driver's "CUDA error: out of memory", cuBLAS' or cuDNN's
    failed allocation, a CUDA-graph capture that failed because an allocation inside it did, which
    carries that error as its cause or context). Any other error is not."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, torch.OutOfMemoryError):
            return True
        if isinstance(err, RuntimeError) and any(m in str(err).lower() for m in _OOM_MESSAGES):
            return True
        err = err.__cause__ or err.__context__
    return False


def release_memory() -> None:
    """Give the memory of a failed batch back: collect the reference cycles that still hold its
    tensors (transformers' frames form some), then return the cached blocks to the device."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _forget(err: BaseException) -> None:
    """Drop the local variables of the frames an exception's traceback holds (the failed batch's
    tensors among them), so that they are freed once the exception is."""
    while err is not None:
        traceback.clear_frames(err.__traceback__)
        err = err.__cause__ or err.__context__


class BatchSizer:
    """A backend's batch size, kept in one place for every backend: the setting (a number or
    ``auto``), the size it started at (``auto``: 16 on a CPU, probed once on a GPU), the size of the
    last batch, and what out-of-memory errors taught. After one, the sizer knows a number of cache
    tokens (rows times each row's prompt and budget) that fits; a later batch gets the largest size,
    halving down from the starting one, that stays within it, so shorter rows grow back towards the
    starting size and longer ones start smaller."""

    def __init__(self, setting: int | str):
        self.auto = setting == "auto"
        self.initial = self.current = CPU_BATCH_SIZE if self.auto else int(setting)
        self.probed = False
        self.fitting_tokens: int | None = None  # rows x tokens a row known to fit, since the last out-of-memory error
        self.oom_retries = 0
        # ``memory_check(rows, tokens)``: why that many rows of that many cache tokens would not fit
        # the memory left, or None; set on the CPU (cotrepro.engine.memory_guard), where running out is
        # the kernel killing the job rather than an error a batch can catch.
        self.memory_check: Callable[[int, int], str | None] | None = None

    def probe(self, run_batch: RunBatch, longest: list[int], max_new_tokens: int, device=None) -> int:
        """Start at the largest batch of the longest input that fits the device (:func:`probe_batch_size`)."""
        self.probed = True
        self.initial = self.current = probe_batch_size(run_batch, longest, max_new_tokens, device)
        self.fitting_tokens = None
        return self.initial

    def probe_once(self, run_batch: RunBatch, inputs: Sequence[Sequence[int]], max_new_tokens: int, device) -> None:
        """With ``auto`` on a GPU, probe at the longest of ``inputs`` the first time only."""
        if self.auto and not self.probed and device.type == "cuda" and inputs:
            self.probe(run_batch, list(max(inputs, key=len)), max_new_tokens, device)

    def longest_first(
        self, inputs: Sequence[Sequence[int]], max_new_tokens: int, run_batch: RunBatch, device: torch.device
    ) -> list:
        """Results of ``run_batch`` over ``inputs`` in input order, batched longest first (memory
        trouble shows at once), each row costing its prompt and budget in cache tokens."""
        inputs = [list(x) for x in inputs]
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
        done = self.batches(
            order,
            lambda idx: run_batch([inputs[i] for i in idx], max_new_tokens),
            device,
            row_tokens=lambda i: len(inputs[i]) + max_new_tokens,
        )
        results: list = [None] * len(inputs)
        for i, result in zip(order, done, strict=True):
            results[i] = result
        return results

    def batches(
        self, items: list, run, device: torch.device, align: int = 1, row_tokens: Callable | None = None
    ) -> list:
        """``run(chunk)`` over ``items`` in batches, results concatenated. With ``align``, a batch that
        can hold whole groups of ``align`` items (a question's sampled paths) holds whole groups;
        ``row_tokens(item)`` is an item's cache tokens (default: all alike). An out-of-memory error
        frees the failed batch's memory and retries it at half the size, down to one item; so does a
        batch that :attr:`memory_check` says would not fit, before it runs."""
        row_tokens = row_tokens or (lambda item: 1)
        results: list = []
        pos = 0
        while pos < len(items):
            size = self._size_for(max(row_tokens(i) for i in items[pos : pos + self.initial]), align)
            chunk = items[pos : pos + size]
            too_big = self.memory_check(len(chunk), max(row_tokens(i) for i in chunk)) if self.memory_check else None
            if too_big and len(chunk) == 1:
                raise GenerationOOM(too_big)
            failed = bool(too_big)
            try:
                if not failed:
                    results += run(chunk)
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
                _forget(err)
                if len(chunk) == 1:
                    raise GenerationOOM(
                        f"out of memory at batch size 1 on {device}; use a larger GPU or more GPUs"
                    ) from err
                failed = True
            if failed:  # outside the handler: the exception and the frames holding the batch are gone
                release_memory()
                self.oom_retries += 1
                tokens = max(row_tokens(i) for i in chunk)
                self.fitting_tokens = min(self.fitting_tokens or tokens * len(chunk), tokens * (len(chunk) // 2))
                log.warning(
                    "out of memory with a batch of %d rows of up to %d cache tokens; retrying with %d",
                    len(chunk),
                    tokens,
                    self._size_for(tokens, align),
                )
                continue
            self.current = len(chunk)
            pos += len(chunk)
        return results

    def _size_for(self, tokens: int, align: int = 1) -> int:
        """The batch size for rows of up to ``tokens`` cache tokens: the starting size, halved while
        that many rows would exceed what is known to fit; with ``align``, a multiple of it if it can be."""
        size = self.initial
        while self.fitting_tokens is not None and size > 1 and size * tokens > self.fitting_tokens:
            size //= 2
        return size // align * align if size >= align else size

    def describe(self) -> dict:
        """The batch-size fields of a backend's description."""
        return {
            "batch_size_setting": "auto" if self.auto else self.initial,
            "batch_size": self.initial,
            "final_batch_size": self.current,
            "out_of_memory_retries": self.oom_retries,
        }


@contextmanager
def _memory_headroom(device) -> Iterator[None]:
    """While the block runs, the caching allocator of a CUDA device refuses to hold more than
    ``1 - PROBE_HEADROOM`` of its memory (an out-of-memory error past it), then allows what it did."""
    if device is None or torch.device(device).type != "cuda":
        yield
        return
    index = torch.device(device).index if torch.device(device).index is not None else torch.cuda.current_device()
    before = torch.cuda.get_per_process_memory_fraction(index)
    torch.cuda.set_per_process_memory_fraction(min(before, 1 - PROBE_HEADROOM), index)
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(before, index)


def probe_batch_size(run_batch: RunBatch, longest: list[int], max_new_tokens: int, device=None) -> int:
    """The largest power-of-two batch (up to 256) of the longest prompt whose prefill and caches for
    the whole budget fit the device with :data:`PROBE_HEADROOM` to spare, found by generating two
    tokens at doubling sizes."""
    best, size = 1, 1
    with _memory_headroom(device):
        while size <= _AUTO_CAP:
            fits = True
            try:
                run_batch([longest] * size, 2, budget=max_new_tokens)
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
                _forget(err)
                fits = False
            release_memory()
            if not fits:
                break
            best, size = size, size * 2
    log.info("batch_size auto: %d rows fit at %d prompt tokens and %d new", best, len(longest), max_new_tokens)
    return best
