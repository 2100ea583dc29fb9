"""A memory guard for generation on the CPU, where running out of memory is not an error a job can
catch, as CUDA's is, but the kernel's out-of-memory killer ending the whole job.

Before each batch on the CPU the guard estimates what it needs beyond the weights (the key-value
cache, one layer's attention scores at the full length, hidden states, logits) and compares it with
what the job may still allocate (the kernel's MemAvailable, the cgroup limit, or
:data:`CPU_MEMORY_ENV`). A batch that would not fit fails as an out-of-memory error before it runs,
so the batch sizer (:mod:`cotrepro.engine.batching`) halves and retries it as it does on CUDA; a
single row that would not fit stops the job with one line naming the prompt's size and the memory.

It wraps :meth:`BatchSizer.batches` in the generation job's process (``scripts/generate.py``), so
that it stays outside the generation job's code (:mod:`cotrepro.code_digest`): installing it, or
changing it, changes no row's key, as the batch size changes none.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path

CPU_MEMORY_ENV = "COTREPRO_CPU_MEMORY_BYTES"
"""An environment variable giving the memory a CPU job may use, in bytes, where the machine's own
figures are not the job's (a scheduler's limit it cannot see), and for tests."""

HEADROOM = 0.2
"""The fraction of the available memory the guard leaves unused: its estimate leaves out the
allocator's overhead and the model's own work arrays."""

GUARD_MESSAGE = "CPU memory guard"
"""How the guard's out-of-memory errors begin, so that a job can tell them from others."""


def _cgroup_bytes_left() -> int | None:
    """The job's cgroup (v2) memory limit less its usage, where a limit is set."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(int(limit) - used, 0)


def available_cpu_memory() -> int | None:
    """Bytes a CPU job may still allocate: :data:`CPU_MEMORY_ENV` if set, else the smaller of the
    kernel's MemAvailable and what the job's cgroup limit leaves (None when neither is known)."""
    if os.environ.get(CPU_MEMORY_ENV):
        return int(os.environ[CPU_MEMORY_ENV])
    known = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                known.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    left = _cgroup_bytes_left()
    if left is not None:
        known.append(left)
    return min(known) if known else None


def cpu_memory_estimate(config: Mapping, dtype_bytes: int = 4) -> Callable[[int, int], int]:
    """``estimate(rows, tokens)``: the bytes beyond the weights that ``rows`` rows of ``tokens`` cache
    tokens each need, for a model of this ``config.json``: every layer's key-value cache, one layer's
    attention scores at the full length (they grow with the square of the length, which is what a
    very long prompt exhausts), a few hidden-state copies per token and a step's float32 logits."""

    def first(*names, default):
        return next((config[n] for n in names if config.get(n)), default)

    hidden = first("hidden_size", "d_model", "n_embd", default=1024)
    heads = first("num_attention_heads", "num_heads", "n_head", default=16)
    kv_heads = first("num_key_value_heads", default=heads)
    head_dim = first("head_dim", "d_kv", default=hidden // heads)
    layers = first("num_hidden_layers", "num_layers", "n_layer", default=24) + first("num_decoder_layers", default=0)
    vocab = first("vocab_size", default=32000)

    def estimate(rows: int, tokens: int) -> int:
        cache = 2 * layers * kv_heads * head_dim * dtype_bytes * tokens
        scores = heads * tokens * tokens * 4
        states = 8 * hidden * 4 * tokens
        return rows * (cache + scores + states + 2 * vocab * 4)

    return estimate


def install_cpu_memory_guard(estimate: Callable[[int, int], int]) -> None:
    """Check every batch a :class:`~cotrepro.engine.batching.BatchSizer` runs on the CPU in this
    process against ``estimate`` and the memory available (see the module docstring)."""
    import torch

    from cotrepro.engine.batching import BatchSizer

    plain = getattr(BatchSizer.batches, "__wrapped__", BatchSizer.batches)

    @functools.wraps(plain)
    def batches(self, items, run, device, align=1, row_tokens=None):
        if getattr(device, "type", device) != "cpu":
            return plain(self, items, run, device, align, row_tokens)
        tokens_of = row_tokens or (lambda item: 1)

        def guarded(chunk):
            available = available_cpu_memory()
            tokens = max(tokens_of(i) for i in chunk)
            need = estimate(len(chunk), tokens)
            if available is not None and need > available * (1 - HEADROOM):
                # The sizer's own out-of-memory path: halve and retry, down to one row.
                raise torch.OutOfMemoryError(
                    f"{GUARD_MESSAGE}: {len(chunk)} row(s) of {tokens} cache tokens (prompt and budget) need an "
                    f"estimated {need / 2**30:.2f} GiB, more than the {available / 2**30:.2f} GiB left to this job "
                    f"less {HEADROOM:.0%} headroom; shorten the prompt, lower max_new_tokens or give the job more "
                    f"memory ({CPU_MEMORY_ENV} sets the figure where the machine's is not the job's)"
                )
            return run(chunk)

        return plain(self, items, guarded, device, align, row_tokens)

    BatchSizer.batches = batches


def guard_message(err: BaseException) -> str | None:
    """The guard's message if ``err`` (a batch sizer's GenerationOOM) came from it, else None."""
    cause = err.__cause__
    return str(cause) if cause is not None and str(cause).startswith(GUARD_MESSAGE) else None
