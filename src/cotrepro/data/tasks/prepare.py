"""Raw dataset files -> canonical task records, checked against the papers' sizes, with provenance."""

from __future__ import annotations

from pathlib import Path

from cotrepro.data.tasks import TaskSpec


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def prepare_records(
    task: TaskSpec, files: list[Path], *, params: dict, records_path: Path, provenance_path: Path
) -> list[dict]:
    """Parse a task's raw files into canonical records and write them with their provenance.

    Fails, naming the task, when the record count differs from the expected size (the papers'
    test set, or a generated task's ``size``), when ids repeat, or when a gold answer does not
    parse in its answer format.
    """
    from cotrepro.answers import normalize_answer
    from cotrepro.io import sha256_file, write_json, write_jsonl

    by_name = {Path(f).name: Path(f) for f in files}
    records = task.load(by_name, params)
    expected = task.expected_size(params)
    if expected is not None and len(records) != expected:
        raise ValueError(
            f"task {task.key}: the dataset has {len(records)} records, the papers' test set has "
            f"{expected}; the source files are not the pinned ones"
        )
    for i, r in enumerate(records):
        for name in ("question", "answer"):
            if not isinstance(r[name], str) or not r[name].strip():
                raise ValueError(
                    f"task {task.key}: record {r['id']} (the {ordinal(i + 1)} of {', '.join(map(str, files))}) "
                    f"has an empty {name!r}; fix or remove it in the source file"
                )
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f"task {task.key}: record ids repeat")
    bad = [r["id"] for r in records if normalize_answer(r["answer"], r["answer_format"]) is None]
    if bad:
        raise ValueError(
            f"task {task.key}: {len(bad)} gold answers do not parse in their answer format (first: {bad[0]})"
        )
    dataset = task.dataset_for(params)
    sources = {f.filename: f.describe() for f in dataset.remote}
    sources.update({Path(p).name: f"cotrepro:{p}" for p in dataset.local})
    write_jsonl(records_path, records)
    write_json(
        provenance_path,
        {
            "task": task.key,
            "description": task.description,
            "kind": task.kind,
            "answer_format": task.answer_format,
            "answer_trigger": task.answer_trigger,
            "params": params,
            "records": len(records),
            "files": [
                {"name": name, "source": sources.get(name, name), "sha256": sha256_file(path)}
                for name, path in sorted(by_name.items())
            ],
        },
    )
    return records
