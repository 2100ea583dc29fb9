"""Task registry: each task is declared once and the workflow is generic over it.

A task names its dataset (pinned remote files or a file the project ships), how raw files
become canonical records (``id, question, answer, answer_format, choices``), its answer format,
the zero-shot answer trigger and its default exemplar set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cotrepro.data.sources import GitHubFile
from cotrepro.prompts import answer_trigger, direct_answer_trigger


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's raw data comes from: pinned remote files, or files the project ships."""

    key: str
    remote: tuple[GitHubFile, ...] = ()
    local: tuple[str, ...] = ()  # paths relative to the repository root

    @property
    def filenames(self) -> tuple[str, ...]:
        """Names of the files as stored under ``resources/datasets/{key}/``."""
        return tuple(f.filename for f in self.remote) + tuple(Path(p).name for p in self.local)


@dataclass(frozen=True)
class TaskSpec:
    """A task: data, record parser, answer format, default exemplar set and published test-set size.

    ``load(files, params)`` turns the raw files (by name) into canonical records; ``params`` holds
    the task's settings (for generated tasks: size, difficulty, seed), the defaults in ``params``
    overridden by config key ``task_params``. ``answer_format`` "mixed" means each record names
    its own. The zero-shot answer triggers follow the answer format (:mod:`cotrepro.prompts`).
    """

    key: str
    kind: str
    description: str
    dataset: DatasetSpec
    load: Callable[[dict[str, Path], dict], list[dict]] = field(repr=False)
    answer_format: str
    exemplars: str
    size: int | None = None
    params: dict = field(default_factory=dict)
    alternatives: dict[str, DatasetSpec] = field(default_factory=dict)
    """Other datasets the task can be read from, by the value of its ``source`` setting (e.g.
    Kojima et al.'s released coin-flip set instead of the generated one)."""

    def dataset_for(self, params: dict) -> DatasetSpec:
        """The dataset the task reads under ``params``: an alternative named by ``source``, else its own."""
        return self.alternatives.get(params.get("source"), self.dataset)

    @property
    def module(self) -> str:
        """The tasks/ module whose code turns the raw files into records (its loader's module),
        an input of the task's prepare_task job."""
        return self.load.__module__.rsplit(".", 1)[-1] + ".py"

    @property
    def answer_trigger(self) -> str | None:
        """Zero-shot CoT's stage-2 trigger (None for mixed-format tasks, whose records decide)."""
        return None if self.answer_format == "mixed" else answer_trigger(self.answer_format)

    @property
    def direct_answer_trigger(self) -> str | None:
        """The zero-shot baseline's answer prefix (None for mixed-format tasks)."""
        return None if self.answer_format == "mixed" else direct_answer_trigger(self.answer_format)

    def expected_size(self, params: dict) -> int | None:
        """The record count the prepared task must have: the papers' size, or a generator's ``size``."""
        return params.get("size", self.size)


FAMILIES = ("arithmetic", "competition", "commonsense", "symbolic")
"""The task modules under ``cotrepro.data.tasks``, one per kind of reasoning."""


def _registry() -> dict[str, TaskSpec]:
    import importlib

    registry: dict[str, TaskSpec] = {}
    for family in FAMILIES:
        for spec in importlib.import_module(f"cotrepro.data.tasks.{family}").TASKS:
            if spec.key in registry:
                raise RuntimeError(f"task {spec.key} is declared twice")
            registry[spec.key] = spec
    return registry


TASKS: dict[str, TaskSpec] = _registry()


def get_task(key: str) -> TaskSpec:
    """The task registered under ``key``; a KeyError names the known tasks."""
    try:
        return TASKS[key]
    except KeyError:
        raise KeyError(f"unknown task {key!r}; known tasks: {', '.join(sorted(TASKS))}") from None


def task_params(task: TaskSpec, overrides: dict | None) -> dict:
    """The task's settings: its defaults updated by config ``task_params``; unknown keys are errors."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(task.params))
    if unknown:
        allowed = ", ".join(sorted(task.params)) or "none (the task has no settings)"
        raise ValueError(f"task {task.key} has no setting {unknown[0]!r}; allowed: {allowed}")
    params = {**task.params, **overrides}
    if "source" in task.params and params["source"] not in (task.params["source"], *task.alternatives):
        allowed = ", ".join([task.params["source"], *task.alternatives])
        raise ValueError(f"task {task.key}: setting 'source' = {params['source']!r}; allowed: {allowed}")
    for key, value in params.items():
        if key != "source" and not isinstance(value, int):
            raise ValueError(f"task {task.key}: setting {key!r} must be an integer, got {value!r}")
    return params
