"""Building blocks for task loaders: canonical records, answer choices, pinned sources, numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from cotrepro.data.sources import GitHubFile
from cotrepro.io import InputFileError, numbered_jsonl, read_text

KOJIMA_REPO = "kojima-takeshi188/zero_shot_cot"
KOJIMA_REVISION = "5ef330fcdeec0cd26aee27943504f91f8ec1c33c"
"""Kojima et al.'s repository, whose dataset/ folder holds the exact test files their Table 1 used."""


def kojima_file(path: str, sha256: str) -> GitHubFile:
    """A file of Kojima et al.'s dataset/ folder at the pinned commit."""
    return GitHubFile(repo=KOJIMA_REPO, revision=KOJIMA_REVISION, path=f"dataset/{path}", sha256=sha256)


def record(rid: str, question: str, answer: str, answer_format: str, choices: dict[str, str] | None = None) -> dict:
    """One canonical task record (the file contract of ``results/tasks/{task}.jsonl``)."""
    return {"id": rid, "question": question, "answer": answer, "answer_format": answer_format, "choices": choices}


def lettered(options: Sequence[str]) -> dict[str, str]:
    """Options in order -> ``{"A": first, "B": second, ...}``."""
    return {chr(ord("A") + i): text for i, text in enumerate(options)}


def answer_choices(choices: dict[str, str], lead: str = "Answer Choices:") -> str:
    """Kojima et al.'s rendering of options inside the question: ``Answer Choices: (A) x (B) y``."""
    return lead + "".join(f" ({letter}) {text}" for letter, text in choices.items())


def plain_number(value: float | int | str) -> str:
    """A gold number as the papers' code wrote it: ``43.0`` -> ``"43"``, ``2.5`` -> ``"2.5"``."""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") else text


def only_file(files: dict[str, Path]) -> Path:
    """The single raw file of a one-file dataset."""
    (path,) = files.values()
    return path


class SourceRow(dict):
    """A parsed line of a raw dataset file that knows where it came from: a field a loader reads and
    the line lacks is an :class:`~cotrepro.io.InputFileError` naming the file, the line and the field
    (a plain dict's KeyError names only the field)."""

    def __init__(self, data: dict, path: Path, line: int):
        super().__init__(data)
        self.where = f"{path}, line {line}"

    def __missing__(self, key):
        raise InputFileError(f"{self.where}: field {key!r} is missing")


def read_json_lines(path: Path) -> list[dict]:
    """Every non-blank line of a JSON-lines file, parsed, each a :class:`SourceRow`; a line that is not
    UTF-8, not JSON or not an object is an :class:`~cotrepro.io.InputFileError` naming file and line."""
    rows = []
    for n, row in numbered_jsonl(path):
        if not isinstance(row, dict):
            raise InputFileError(f"{path}, line {n}: expected a JSON object, got {type(row).__name__}")
        rows.append(SourceRow(row, path, n))
    return rows


def read_json_doc(path: Path):
    """A whole JSON document; an error names the file and line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}, line {err.lineno}: not JSON ({err.msg})") from None


def bigbench_examples(path: Path) -> list[dict]:
    """The ``examples`` list of a BIG-bench (or BIG-Bench Hard) task file."""
    doc = read_json_doc(path)
    if not isinstance(doc, dict) or "examples" not in doc:
        raise ValueError(f"{path.name}: not a BIG-bench task file (no 'examples' list)")
    return doc["examples"]


def correct_option(target_scores: dict[str, float], where: str) -> str:
    """The one option a BIG-bench ``target_scores`` marks correct."""
    best = [option for option, score in target_scores.items() if score == 1]
    if len(best) != 1:
        raise ValueError(f"{where}: expected exactly one correct option, found {len(best)}")
    return best[0]


def correct_letter(choices: dict[str, str], target_scores: dict[str, float], where: str) -> str:
    """The letter under which ``choices`` shows the option ``target_scores`` marks correct."""
    right = correct_option(target_scores, where)
    return next(letter for letter, text in choices.items() if text == right)


def numbered(prefix: str, items: Iterable) -> Iterable[tuple[str, object]]:
    """``(f"{prefix}-0000", item), ...``: stable ids in file order."""
    return ((f"{prefix}-{i:04d}", item) for i, item in enumerate(items))
