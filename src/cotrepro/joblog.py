"""Logging for workflow jobs: everything a job prints goes to its rule's log file."""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn


def log_to(path: str | Path | None) -> None:
    """Send this process's stderr, stdout and ``logging`` output to ``path`` (appending).

    Progress bars (tqdm) and library warnings write to stderr, so they land in the log too. A job
    process also skips the interpreter's last garbage-collection walk at exit (:func:`freeze_at_exit`).
    """
    freeze_at_exit()
    sys.excepthook = _one_line_for_a_full_disk
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Open for the whole job: the interpreter closes it at exit, after the last line is logged.
        stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        sys.stderr = sys.stdout = stream
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


DISK_FULL_BYTES = 16 * 2**20
"""Free space below which a failed run is taken to have failed for a full disk."""


def disk_full_line(directory: str | Path) -> str | None:
    """The one line that says the disk holding ``directory`` is full, when it has less than
    :data:`DISK_FULL_BYTES` free (Snakemake blames write permissions when it cannot record a job's
    metadata there); else None."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return None
    if free >= DISK_FULL_BYTES:
        return None
    return (
        f"the disk holding {Path(directory).resolve()} is full ({free / 2**20:.1f} MiB free): free space "
        "and rerun the same command; finished files are kept and generation resumes from its journals"
    )


def _one_line_for_a_full_disk(kind, err, tb) -> None:
    """An excepthook: a job that fails for a full disk says so in one line on the terminal, tries
    to put the traceback in its log (which may not take it) and exits at once, before the
    interpreter's own last writes fail on the same disk; any other error is reported as usual."""
    if not (isinstance(err, OSError) and err.errno == errno.ENOSPC):
        sys.__excepthook__(kind, err, tb)
        return
    line = disk_full_line(Path.cwd()) or f"no space left on device ({err}): free space and rerun"
    print(line, file=sys.__stderr__, flush=True)
    with contextlib.suppress(OSError):
        sys.__excepthook__(kind, err, tb)
        sys.stderr.flush()
    os._exit(1)


def freeze_at_exit() -> None:
    """At exit, move every live object out of the garbage collector's reach before the interpreter
    shuts down. Its final collections would otherwise walk all the objects torch and transformers
    created: measured 2.2 s of a 10 s generation job, 0.4 s with this. Objects are still freed and
    files still flushed and closed; only the cycle search over them is skipped."""
    atexit.register(gc.freeze)


def stop(message: object) -> NoReturn:
    """End a job on a bad input with its one-line ``message``: on the terminal (the process's own
    stderr, which Snakemake shows) and in the job's log, exit status 1, no traceback."""
    print(message, file=sys.__stderr__, flush=True)
    print(message, flush=True)
    sys.exit(1)


@contextmanager
def stopping_on(describe: Callable[[BaseException], str | None]) -> Iterator[None]:
    """Within the block, an error that ``describe`` gives a one-line message for ends the job with
    that line (:func:`stop`); any other error propagates as it is."""
    try:
        yield
    except Exception as err:
        line = describe(err)
        if line is None:
            raise
        stop(line)
