"""Starting a server for a job and always stopping it: a ``serve`` command (e.g. ``vllm serve
{model_dir} --port {port} --seed 0``) run on a free local port in its own process group, waited for
with a health check and a timeout, and stopped when the job ends, fails or is interrupted. The
server also gets SIGTERM from the kernel if the job itself is killed outright (``PR_SET_PDEATHSIG``),
so no server outlives its job."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from cotrepro.engine.served.client import ServedError

_PR_SET_PDEATHSIG = 1
_STOP_GRACE = 15.0  # seconds a server gets to exit on SIGTERM before it is killed


def free_port() -> int:
    """A TCP port free on this host now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(template: str, *, port: int, model_dir: Path | None, served_model: str) -> list[str]:
    """The command line of a ``serve`` template, its ``{port}``, ``{model_dir}`` and
    ``{served_model}`` filled in."""
    filled = template.format(port=port, model_dir=model_dir or "", served_model=served_model)
    return shlex.split(filled)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _healthy(base_url: str) -> bool:
    root = base_url.rstrip("/").removesuffix("/v1")
    for url in (f"{root}/health", f"{base_url.rstrip('/')}/models"):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own local server)
                if response.status == 200:
                    return True
        except OSError:
            continue
    return False


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after a grace period; waits for it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def launched_server(
    template: str,
    *,
    model_dir: Path | None,
    served_model: str,
    log_path: Path,
    timeout: float = 600.0,
    env: dict | None = None,
) -> Iterator[dict]:
    """Start the ``serve`` command on a free port and yield ``{"base_url", "command", "pid", "port",
    "ready_seconds"}`` once it answers its health check; stop it on leaving, however the block ends
    (a SIGTERM to the job, as Snakemake sends on interrupt, is turned into an exception so this runs)."""
    port = free_port()
    command = serve_command(template, port=port, model_dir=model_dir, served_model=served_model)
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    previous = signal.getsignal(signal.SIGTERM)
    handle = _raise_on_sigterm if _main_thread() else None
    if handle:
        signal.signal(signal.SIGTERM, handle)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopped as one, and spared the terminal's Ctrl-C
            preexec_fn=_die_with_parent,  # noqa: PLW1509 (the prctl must run in the child)
            env=env,
        )
    try:
        t0, deadline = time.monotonic(), time.monotonic() + timeout
        while not _healthy(base_url):
            if process.poll() is not None:
                raise ServedError(
                    f"serve command {command[0]!r} exited with status {process.returncode} before answering; "
                    f"its log {log_path} ends: {_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise ServedError(
                    f"serve command {command[0]!r} did not answer its health check within {timeout:.0f} s "
                    f"(config key serve_timeout); its log is {log_path}"
                )
            time.sleep(0.5)
        yield {
            "base_url": base_url,
            "command": command,
            "pid": process.pid,
            "port": port,
            "ready_seconds": round(time.monotonic() - t0, 1),
        }
    finally:
        stop_server(process)
        if handle:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)
