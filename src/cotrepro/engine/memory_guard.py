"""A memory guard for generation on the CPU, where running out of memory is not an error a job can
catch, as CUDA's is, but the kernel's out-of-memory killer ending the whole job.

Before each batch on the CPU the guard estimates what it needs beyond the weights (the key-value
cache, one layer's attention scores at the full length, hidden states, logits) and compares it with
what the job may still allocate (the kernel's MemAvailable, the cgroup limit, or
:data:`CPU_MEMORY_ENV`). Every in-process backend on the CPU sets it as its batch sizer's
``memory_check`` (:class:`cotrepro.engine.tokens.TokenizedBackend`), so the generation job, the
checks and ``cotrepro generate`` all have it: a batch that would not fit is split before it runs,
as CUDA's out-of-memory error splits it after; a single prompt that would not fit goes to the
overflow policy (the workflow's runner skips it, flagged, or stops with one line naming its size,
the memory and :data:`REMEDY`), and where no policy is asked, the sizer stops with that line.
"""

from __future__ import annotations

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


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def cpu_memory_check(estimate: Callable[[int, int], int]) -> Callable[[int, int], str | None]:
    """``check(rows, tokens)``: why ``rows`` rows of ``tokens`` cache tokens each would not fit what
    this job may still allocate (less :data:`HEADROOM`), by ``estimate``, or None when they fit or
    the memory is unknown. A batch sizer splits a batch that would not fit before it runs; a
    single row that would not fit is the overflow policy's to handle."""

    def check(rows: int, tokens: int) -> str | None:
        available = available_cpu_memory()
        need = estimate(rows, tokens)
        if available is None or need <= available * (1 - HEADROOM):
            return None
        return (
            f"{GUARD_MESSAGE}: {rows} row(s) of {tokens} cache tokens (prompt and budget) need an "
            f"estimated {_size(need)}, more than the {_size(available)} left to this job "
            f"less {HEADROOM:.0%} headroom"
        )

    return check


class GenerationOOM(RuntimeError):
    """Out of memory even at batch size one: the model, or this prompt, does not fit this device."""


class PromptOverMemory(GenerationOOM):
    """A prompt that would not fit the job's memory even alone, under the policy to generate it."""


REMEDY = (
    "shorten the prompt, lower max_new_tokens or give the job more memory "
    f"({CPU_MEMORY_ENV} sets the figure where the machine's is not the job's)"
)
"""What the one line of a prompt too large for the memory says to do."""

SKIP_HINT = "or set generation.on_overflow: skip to skip such prompts (flagged and counted in the report)"
"""What the workflow's line adds, where the overflow policy decides."""


def memory_error_line(err: BaseException) -> str | None:
    """The one line a job ends with when ``err`` is running out of memory at batch size one (the
    guard's ending in :data:`REMEDY`), else None."""
    if not isinstance(err, GenerationOOM):
        return None
    text = str(err)
    return f"{text}; {REMEDY}" if text.startswith(GUARD_MESSAGE) and REMEDY not in text else text
