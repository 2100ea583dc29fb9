"""Task registry: each task is declared once and the workflow is generic over it.

A task names its dataset (pinned remote files or a file the project ships), how raw files
become canonical records (``id, question, answer, answer_format, choices``), its answer format,
the zero-shot answer trigger and its default exemplar set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cotrepro.sources import GitHubFile

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
    """A task: data, record parser, answer format, zero-shot trigger and exemplar set."""

    key: str
    kind: str
    description: str
    dataset: DatasetSpec
    load: Callable[[dict[str, Path]], list[dict]] = field(repr=False)
    answer_format: str
    answer_trigger: str
    exemplars: str
    size: int | None = None

    @property
    def direct_answer_trigger(self) -> str:
        """The zero-shot baseline's answer prefix, derived from the stage-2 trigger as Kojima et al. did.

        "Therefore, the answer (arabic numerals) is" -> "The answer (arabic numerals) is".
        """
        rest = self.answer_trigger.removeprefix("Therefore, ")
        return rest[0].upper() + rest[1:]


def _registry() -> dict[str, TaskSpec]:
    from cotrepro.tasks import arithmetic

    specs = list(arithmetic.TASKS)
    return {s.key: s for s in specs}


TASKS: dict[str, TaskSpec] = _registry()


def get_task(key: str) -> TaskSpec:
    """The task registered under ``key``; a KeyError names the known tasks."""
    try:
        return TASKS[key]
    except KeyError:
        raise KeyError(f"unknown task {key!r}; known tasks: {', '.join(sorted(TASKS))}") from None


def prepare_records(task: TaskSpec, files: list[Path], *, records_path: Path, provenance_path: Path) -> list[dict]:
    """Parse a task's raw files into canonical records and write them with their provenance.

    Fails, naming the task, when the record count differs from the published test-set size or
    when a gold answer does not parse in the task's answer format.
    """
    from cotrepro.download import sha256_file
    from cotrepro.extract import normalize_answer
    from cotrepro.io import write_json, write_jsonl

    by_name = {Path(f).name: Path(f) for f in files}
    records = task.load(by_name)
    if task.size is not None and len(records) != task.size:
        raise ValueError(f"task {task.key}: the dataset has {len(records)} records, the papers' test set has "
                         f"{task.size}; the source files are not the pinned ones")
    bad = [r["id"] for r in records if normalize_answer(r["answer"], r["answer_format"]) is None]
    if bad:
        raise ValueError(f"task {task.key}: {len(bad)} gold answers do not parse as {task.answer_format} "
                         f"(first: {bad[0]})")
    sources = {f.filename: f.describe() for f in task.dataset.remote}
    sources.update({Path(p).name: f"cotrepro:{p}" for p in task.dataset.local})
    write_jsonl(records_path, records)
    write_json(provenance_path, {
        "task": task.key,
        "description": task.description,
        "kind": task.kind,
        "answer_format": task.answer_format,
        "answer_trigger": task.answer_trigger,
        "records": len(records),
        "files": [{"name": name, "source": sources.get(name, name), "sha256": sha256_file(path)}
                  for name, path in sorted(by_name.items())],
    })
    return records
