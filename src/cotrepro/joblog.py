"""Logging for workflow jobs: everything a job prints goes to its rule's log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to(path: str | Path | None) -> None:
    """Send this process's stderr, stdout and ``logging`` output to ``path`` (appending).

    Progress bars (tqdm) and library warnings write to stderr, so they land in the log too.
    """
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Open for the whole job: the interpreter closes it at exit, after the last line is logged.
        stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        sys.stderr = sys.stdout = stream
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
