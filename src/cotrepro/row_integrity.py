"""Whether a generations file's rows are the ones generation wrote: valid JSON, each row's content
matching its own hash, exactly the unit's question ids, each once.

Every row carries ``content``, a digest of all its other fields (prompt, completion, token counts,
paths, key, timing). Generation stamps it (:func:`stamp`) when it writes a unit's final file, and
every reader checks it (:func:`checked_rows`), so that a torn line, an edited completion, a duplicated
or a dropped row stops scoring instead of being counted.

Files written before rows had a hash (no row with ``content``) are still read, checked for their ids
only; the next generation job of their model stamps them without regenerating a row. This module is
not imported by the generation job's code (see :mod:`cotrepro.code_digest`): adding the hash changes
no row's key, so no existing row is regenerated for it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cotrepro.provenance import digest

CONTENT = "content"
"""The row field holding the digest of the row's other fields."""


class RowIntegrityError(ValueError):
    """A generations file whose rows are not what generation wrote; the message is one line naming
    the file, the damaged ids and the remedy."""


def content_digest(row: dict) -> str:
    """The digest of every field of ``row`` but :data:`CONTENT`."""
    return digest({k: v for k, v in row.items() if k != CONTENT})


def stamp(row: dict) -> dict:
    """``row`` with its :data:`CONTENT` hash (re)computed."""
    return {**row, CONTENT: content_digest(row)}


@dataclass
class RowsFile:
    """What a generations file holds, line by line: the rows that parsed (with their line numbers)
    and the lines that did not."""

    path: Path
    rows: list[tuple[int, dict]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)

    @property
    def hashed(self) -> bool:
        """Whether the file was written with row hashes (any row has one); if so, every row needs one."""
        return any(CONTENT in row for _, row in self.rows)

    def intact(self, row: dict) -> bool:
        """Whether ``row`` is as generation wrote it (a file without hashes: not checkable, taken)."""
        return not self.hashed or row.get(CONTENT) == content_digest(row)


def read_rows_file(path: Path) -> RowsFile:
    """Every line of a JSON-lines rows file, parsed where it parses (blank lines skipped). A line that
    is not UTF-8, not JSON or not an object with an ``id`` is recorded by number, not raised."""
    out = RowsFile(Path(path))
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                out.bad_lines.append(number)
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                out.rows.append((number, row))
            else:
                out.bad_lines.append(number)
    return out


def _ids(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def problems(found: RowsFile, expected_ids: Sequence[str]) -> list[str]:
    """What is wrong with a file's rows against the unit's ``expected_ids`` (empty when nothing)."""
    out = []
    if found.bad_lines:
        out.append(f"line(s) {', '.join(map(str, found.bad_lines[:5]))} are not valid JSON rows (a torn write?)")
    altered = [row["id"] for _, row in found.rows if not found.intact(row)]
    if altered:
        out.append(f"{len(altered)} row(s) do not match their content hash (edited?): {_ids(altered)}")
    counts = Counter(row["id"] for _, row in found.rows)
    duplicated = [i for i, n in counts.items() if n > 1]
    if duplicated:
        out.append(f"{len(duplicated)} id(s) appear more than once: {_ids(duplicated)}")
    expected = set(expected_ids)
    missing = [i for i in expected_ids if i not in counts]
    if missing:
        out.append(f"{len(missing)} of the task's {len(expected_ids)} question(s) have no row: {_ids(missing)}")
    unexpected = [i for i in counts if i not in expected]
    if unexpected:
        out.append(f"{len(unexpected)} row(s) are for no question of the unit: {_ids(unexpected)}")
    return out


def checked_rows(path: Path, expected_ids: Sequence[str], remedy: str) -> list[dict]:
    """The rows of the generations file at ``path``, in ``expected_ids`` order, if they are exactly
    the unit's, once each and intact; otherwise :class:`RowIntegrityError`, one line naming the file,
    what is wrong and ``remedy``."""
    found = read_rows_file(path)
    wrong = problems(found, expected_ids)
    if wrong:
        raise RowIntegrityError(f"{path}: {'; '.join(wrong)}; nothing was scored from it. {remedy}")
    by_id = {row["id"]: row for _, row in found.rows}
    return [by_id[i] for i in expected_ids]


def keep_intact(path: Path) -> int:
    """Rewrite a generations file (or journal) with only its intact rows, so that generation reuses
    those and regenerates the rest; return how many lines were dropped. A missing file is left alone."""
    from cotrepro.io import write_jsonl

    path = Path(path)
    if not path.exists():
        return 0
    found = read_rows_file(path)
    kept = [row for _, row in found.rows if found.intact(row)]
    dropped = len(found.bad_lines) + len(found.rows) - len(kept)
    if dropped:
        write_jsonl(path, kept)
    return dropped


def stamp_file(path: Path) -> None:
    """Rewrite a generations file with every row's :data:`CONTENT` hash (a no-op for an empty file)."""
    from cotrepro.io import read_jsonl, write_jsonl

    rows = read_jsonl(path)
    if rows:
        write_jsonl(path, [stamp(r) for r in rows])


def unit_ids(meta: dict, records: Sequence[dict]) -> list[str]:
    """The question ids a unit's rows must have: the first ``task.records`` of its task (the unit's
    question limit applied), none for a unit that does not apply to its model."""
    if meta.get("not_applicable"):
        return []
    return [r["id"] for r in records[: meta["task"]["records"]]]


def forcerun_remedy(path: Path) -> str:
    """The one-line remedy for a damaged generations file: force its generation job, which reuses
    the intact rows and regenerates only the others."""
    return (
        f"Regenerate only the damaged rows with: snakemake --cores all --forcerun {path} "
        "(and the run's own --configfile)"
    )
