"""One GPU per concurrent generation job on a machine with several, without a scheduler of our own.

Snakemake limits how many generation jobs run at once through the ``gpu`` resource but does not
say which device each should use, and sets no ``CUDA_VISIBLE_DEVICES``. Each job therefore
claims free device slots itself: one lock file per device, taken with ``flock``. The kernel
releases a lock when its holder exits, however it dies, so a killed job never strands a GPU, and
two jobs can never hold the same slot.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR_ENV = "COTREPRO_GPU_LOCK_DIR"


class NotEnoughGPUs(RuntimeError):
    """A job asks for more GPUs than the machine shows it."""


def default_lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the slot locks live: machine-wide, so separate workflow runs share the GPUs fairly too.

    Inside a SLURM job the devices are the job's own (SLURM numbers them from 0 in every job),
    so the locks are per job: two jobs on one node must not wait for each other's "GPU 0".
    """
    environ = os.environ if environ is None else environ
    if environ.get(LOCK_DIR_ENV):
        return Path(environ[LOCK_DIR_ENV])
    base = Path(tempfile.gettempdir()) / f"cotrepro-gpu-slots-{os.getuid()}"
    return base / f"slurm-{environ['SLURM_JOB_ID']}" if environ.get("SLURM_JOB_ID") else base


def visible_devices(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set (a SLURM allocation, a user's
    choice), else every GPU ``nvidia-smi`` lists, else none."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [d.strip() for d in environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def claim(
    count: int, devices: Sequence[str], *, lock_dir: Path | None = None, timeout: float = 24 * 3600, poll: float = 0.5
) -> Iterator[list[str]]:
    """Hold ``count`` of ``devices`` exclusively for the ``with`` block and yield their ids.

    Waits (polling) while fewer are free, which happens only when jobs from another run share
    the machine, since Snakemake's ``gpu`` resource already caps this run's concurrency.
    """
    if count > len(devices):
        raise NotEnoughGPUs(
            f"a generation job needs {count} GPU(s) but {len(devices)} are visible "
            f"({', '.join(devices) or 'none'}); lower the model's 'gpus' or make more visible"
        )
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    held: dict[str, int] = {}
    try:
        while True:
            for device in devices:
                if len(held) == count:
                    break
                if device not in held and (fd := _try_lock(lock_dir / f"gpu-{device}.lock")) is not None:
                    held[device] = fd
            if len(held) == count:
                break
            # Not enough free: give back what we hold so that two waiting jobs cannot deadlock.
            for fd in held.values():
                os.close(fd)
            held.clear()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {count} free GPU slot(s) among {list(devices)} within {timeout:.0f} s")
            time.sleep(poll)
        yield sorted(held, key=list(devices).index)
    finally:
        for fd in held.values():
            os.close(fd)


@contextmanager
def job_devices(wanted: int) -> Iterator[list[str]]:
    """The GPUs of one job that asks for ``wanted`` (its Snakemake ``gpu`` resource), held for the
    ``with`` block: claimed among the visible ones and made the only ones the job sees. None without
    a visible GPU (the job runs on the CPU). Enter it before torch is imported: CUDA reads
    ``CUDA_VISIBLE_DEVICES`` once, when it starts."""
    devices = visible_devices() if wanted else []
    with claim(wanted if devices else 0, devices) as slots:
        if slots:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(slots)
            print(f"GPU slot(s) {','.join(slots)} of {','.join(devices)}")
        yield slots
