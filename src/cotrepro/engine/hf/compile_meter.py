"""Whether the decode steps really ran compiled, measured while they ran.

transformers compiles the decode step of ``generate`` (``get_compiled_call``) when the cache is
static on a GPU; it decides that per call (``_valid_auto_compile_criteria``) and does not report
what happened. torch then compiles each code object at most ``torch._dynamo.config.recompile_limit``
times (8), and transformers routes every forward of a model through one wrapper function, so a few
units of differently shaped batches (batch sizes, cache lengths, prefix lengths, the shared-prefix
attention switched on and off) can use the budget up; after that the step runs uncompiled, silently.

The meter makes the compiled call observable without changing it: the ``torch.compile`` backend is
the one transformers would use (inductor with ``reduce-overhead``, or another named backend),
wrapped so that it counts each graph it compiles (dynamo's compile id says whether it was a
recompile) and each run of a compiled graph; a logits processor, called once per step between two
forward passes, counts the decode steps and which of them ran a compiled graph; and dynamo's own
counters say whether a recompile limit was hit. Counts cover the engine's whole life (a job).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch
from torch._dynamo.utils import counters
from transformers import CompileConfig, LogitsProcessor

DEFAULT_BACKEND, DEFAULT_MODE = "inductor", "reduce-overhead"  # transformers' CompileConfig defaults
_LIMIT_BREAK = "Dynamo recompile limit exceeded"  # dynamo's graph-break type when a code object hits its limit


class CountingBackend:
    """A ``torch.compile`` backend that compiles as ``torch.compile(backend=name, mode=mode)`` would,
    counting the graphs it compiles and the runs of compiled graphs."""

    def __init__(self, name: str, mode: str | None):
        self.name, self.mode = name, mode
        # What torch.compile itself builds for a backend name and mode.
        if name == "inductor":
            self.inner = torch._TorchCompileInductorWrapper(mode, None, None)
        else:
            self.inner = torch._TorchCompileWrapper(name, mode, None, None)
        self.compiles: list[int] = []  # per compiled graph: dynamo's frame_compile_id (above 0: a recompile)
        self.runs = 0

    def __call__(self, graph, example_inputs):
        """Compile one graph with the wrapped backend; the result counts its runs."""
        compile_id = graph.meta.get("dynamo_compile_id")
        self.compiles.append(getattr(compile_id, "frame_compile_id", 0) or 0)
        compiled = self.inner(graph, example_inputs)

        def run(*args):
            self.runs += 1
            return compiled(*args)

        return run

    def reset(self) -> None:
        """What ``torch._dynamo.reset()`` asks of a backend (inductor drops its CUDA-graph trees)."""
        if hasattr(self.inner, "reset"):
            self.inner.reset()

    def __deepcopy__(self, memo):
        # CompileConfig.to_dict() deep-copies its fields; the counts must stay in this one object.
        return self


@cache
def counting_backend(name: str, mode: str | None) -> CountingBackend:
    """The one counting backend of a name and mode in this process: every engine on a model passes
    an equal compile config, so transformers keeps its compiled call and dynamo its compiled code."""
    return CountingBackend(name, mode)


def _limit_breaks() -> int:
    return sum(n for reason, n in counters["unimplemented"].items() if reason.startswith(_LIMIT_BREAK))


class _StepMeter(LogitsProcessor):
    """Counts the decode steps of one ``generate`` call and those that ran a compiled graph. Called
    once per generated token: the first call follows the (uncompiled) prefill, each later one a
    decode step's forward pass. The scores pass unchanged."""

    def __init__(self, backend: CountingBackend):
        self.backend, self.seen, self.steps, self.compiled = backend, None, 0, 0

    def __call__(self, input_ids, scores):
        if self.seen is not None:
            self.steps += 1
            self.compiled += self.backend.runs > self.seen
        self.seen = self.backend.runs
        return scores


class CompileMeter:
    """An engine's compile request and what its decode steps did. ``requested``: compile the decode
    step; ``backend``: a torch.compile backend name to compile with on any device (with no mode; the
    tests use ``eager`` on a CPU), or None for transformers' default (inductor, ``reduce-overhead``,
    on a GPU only)."""

    def __init__(self, requested: bool, backend: str | None = None):
        self.requested = requested
        name, mode = (backend, None) if backend else (DEFAULT_BACKEND, DEFAULT_MODE)
        self.backend = counting_backend(name, mode) if requested else None
        self.config = None
        if requested:
            self.config = CompileConfig(backend=self.backend, mode=None)
            if backend:  # transformers compiles only on GPUs unless asked to compile on every device
                self.config._compile_all_devices = True
        self.decode_steps = self.compiled_steps = self.graphs = self.recompiles = self.limit_breaks = 0

    @contextmanager
    def measuring(self, compiled: bool = True) -> Iterator[dict]:
        """Around one ``generate`` call: yields its compile arguments (``disable_compile`` and
        ``compile_config``) and the logits processors that measure it (``processors``), and adds
        what was measured when the call returns. ``compiled=False``: run this call uncompiled."""
        if not (self.requested and compiled):
            yield {"generate": {"disable_compile": True}, "processors": []}
            return
        step, graphs, breaks = _StepMeter(self.backend), len(self.backend.compiles), _limit_breaks()
        try:
            yield {"generate": {"disable_compile": False, "compile_config": self.config}, "processors": [step]}
        finally:
            self.decode_steps += step.steps
            self.compiled_steps += step.compiled
            new = self.backend.compiles[graphs:]
            self.graphs += len(new)
            self.recompiles += sum(1 for frame_compile in new if frame_compile > 0)
            self.limit_breaks += _limit_breaks() - breaks

    @property
    def compiled(self) -> bool:
        """Every decode step so far ran a compiled graph (and there was at least one)."""
        return self.requested and self.decode_steps > 0 and self.compiled_steps == self.decode_steps

    def describe(self) -> dict:
        """The ``compile`` field of an engine's description."""
        return {
            "requested": self.requested,
            "backend": self.backend.name if self.backend else None,
            "mode": self.backend.mode if self.backend else None,
            "decode_steps": self.decode_steps,
            "compiled_steps": self.compiled_steps,
            "eager_steps": self.decode_steps - self.compiled_steps,
            "graphs_compiled": self.graphs,
            "recompiles": self.recompiles,
            "recompile_limit": torch._dynamo.config.recompile_limit,
            "limit_hit": self.limit_breaks > 0,
        }
