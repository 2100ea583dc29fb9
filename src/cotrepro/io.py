"""Small file helpers: JSON and JSON-lines, always written atomically (temp file + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable


def _current_umask() -> int:
    # The only portable way to read the umask is to set it and put it back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def temp_beside(path: Path):
    """A temporary file in ``path``'s directory (so ``os.replace`` onto ``path`` is atomic).

    It is removed on exit unless it was renamed away.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    # mkstemp makes the file private (0600); the final file gets the usual permissions instead.
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    with temp_beside(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data) -> None:
    """Atomically write ``data`` as indented JSON with sorted keys."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: Path):
    """Parse a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def jsonl_line(row: dict) -> str:
    """One JSON-lines record (no trailing newline)."""
    return json.dumps(row, ensure_ascii=False)


def run_key(path: Path) -> tuple[str, str, str]:
    """``(model, task, method)`` of a per-run file, ``results/{generations|scores}/{model}/{task}/{method}.*``."""
    path = Path(path)
    return path.parent.parent.name, path.parent.name, path.name.split(".", 1)[0]


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Atomically write rows as JSON lines."""
    atomic_write_text(path, "".join(jsonl_line(r) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    """All rows of a JSON-lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
