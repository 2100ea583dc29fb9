"""A served model's generation job: the server it starts (a ``serve`` command) or the one at
``base_url``, and the loader settings that reach it. The server a job starts is stopped when the
job ends, however it ends (:func:`cotrepro.engine.served.launcher.launched_server`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("cotrepro.generation")


def local_model_dir(manifest: dict) -> Path | None:
    """The model's local directory (for ``{model_dir}`` and the default tokenizer); None for a
    model that exists only behind a server (source served)."""
    if manifest.get("source") == "served":
        return None
    from cotrepro.models import model_dir

    return model_dir(manifest)


@contextlib.contextmanager
def job_server(served: dict | None, manifest: dict, log_path: Path | None) -> Iterator[dict | None]:
    """The loader's ``served`` settings for the job (None when the model is not served): with a
    ``serve`` command, the server is started here, its URL filled in, and stopped on leaving."""
    if served is None:
        yield None
        return
    if not served.get("serve"):
        yield served | {"server": {"started_by_job": False}}
        return
    with started_server(served, local_model_dir(manifest), Path(log_path or "served-server.log")) as settings:
        yield settings


@contextlib.contextmanager
def started_server(served: dict, weights: Path, log_path: Path) -> Iterator[dict]:
    """``served``'s settings with the server its ``serve`` command starts on ``weights``: its URL,
    the model name it knows and how it was started; stopped on leaving, however the block ends."""
    from cotrepro.engine.served.launcher import launched_server

    log.info("starting the server: %s (log %s)", served["serve"], log_path)
    # Absolute, since a server may change directory; a server that names its model by the path it
    # loaded (transformers serve) is asked for it as served_model: "{model_dir}".
    weights = Path(weights).resolve()
    name = served["served_model"].format(model_dir=weights)
    with launched_server(
        served["serve"], model_dir=weights, served_model=name, log_path=log_path, timeout=served["serve_timeout"]
    ) as started:
        log.info("server answering at %s after %.1f s", started["base_url"], started["ready_seconds"])
        info = {"started_by_job": True, "command": started["command"], "ready_seconds": started["ready_seconds"]}
        yield served | {"base_url": started["base_url"], "served_model": name, "server": info}
    log.info("server stopped")
