"""Small I/O helpers every stage shares: atomic writes (temp file + rename), JSON, JSON-lines and
YAML read with errors that name the file and line, file checksums, and retried downloads."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

_CHUNK = 1 << 20

T = TypeVar("T")


class InputFileError(ValueError):
    """A file (or a command-line value) that cannot be read as what it should hold; the message is one
    line naming the file, the line and what is wrong."""


def _yaml_loader():
    # Imported here: the engine imports this module and never reads YAML.
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """yaml's SafeLoader, refusing a mapping that gives a key twice (SafeLoader keeps the last)."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return yaml, UniqueKeyLoader


def load_yaml(text: str, source: str):
    """``text`` parsed as YAML (safe: plain data only), a key given twice in one mapping refused; an
    error is an :class:`InputFileError` naming ``source`` (a file, a command-line option) and the line."""
    yaml, loader = _yaml_loader()
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass: plain data only
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise InputFileError(f"{where}: not valid YAML ({problem})") from None


def read_yaml(path: Path):
    """The YAML file at ``path`` (see :func:`load_yaml`), a file that is not UTF-8 refused by line."""
    return load_yaml(read_text(path), str(path))


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; a byte that is not UTF-8 or a leading byte-order mark is an
    :class:`InputFileError` naming the file and line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputFileError(
            f"{path}, line {line}: not UTF-8 (a byte {data[err.start]:#x}); save it as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        raise InputFileError(f"{path}, line 1: starts with a byte-order mark; save the file as UTF-8 without it")
    return text


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


def numbered_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """``(line number, parsed value)`` for every non-blank line of a JSON-lines file; a line that is
    not UTF-8 or not JSON (a torn write, a hand edit) is an :class:`InputFileError` naming the file
    and the line."""
    for n, line in enumerate(read_text(path).split("\n"), 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as err:
                raise InputFileError(
                    f"{path}, line {n}: not JSON ({err.msg} at column {err.colno}; a torn line?)"
                ) from None


def read_jsonl(path: Path) -> list[dict]:
    """All rows of a JSON-lines file (blank lines skipped); errors as :func:`numbered_jsonl`'s."""
    return [row for _, row in numbered_jsonl(path)]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def retry_download(
    fn: Callable[[], T],
    *,
    what: str,
    diagnose: Callable[[Exception], tuple[bool, str]],
    error: type[Exception],
    retries: int,
    backoff_seconds: float,
    log: logging.Logger,
    handles: tuple[type[Exception], ...] = (Exception,),
) -> T:
    """``fn()``, tried ``retries`` more times while its failure may pass; return its result.

    ``diagnose(err)`` tells, for a failure of a kind in ``handles``, whether another attempt may
    succeed and what to tell the user. Before attempt ``n + 1`` a warning is logged on ``log`` and
    ``backoff_seconds * 2**(n - 1)`` seconds pass. A failure that will not pass, or the last one,
    raises ``error("could not download {what} after {n} attempt(s): {reason}")`` from it; failures
    of other kinds propagate untouched and are not retried.
    """
    # Imported here, not at the top: the engine imports this module, and it must start where only
    # torch and transformers are installed (a bare GPU machine, benchmarks/gpu_check.py).
    import tenacity

    attempts = retries + 1

    def may_pass(err: BaseException) -> bool:
        return isinstance(err, handles) and diagnose(err)[0]

    def warn(state: tenacity.RetryCallState) -> None:
        _, reason = diagnose(state.outcome.exception())
        log.warning(
            "attempt %d of %d to download %s failed (%s); retrying in %.1f s",
            state.attempt_number,
            attempts,
            what,
            reason,
            state.next_action.sleep,
        )

    # reraise: the caller's error is built from fn's own exception, not tenacity's RetryError.
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=backoff_seconds),
        retry=tenacity.retry_if_exception(may_pass),
        before_sleep=warn,
        reraise=True,
    )
    try:
        return retrying(fn)
    except handles as err:
        _, reason = diagnose(err)
        tried = retrying.statistics["attempt_number"]
        raise error(f"could not download {what} after {tried} attempt(s): {reason}") from err
