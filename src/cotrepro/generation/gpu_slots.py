"""One GPU per concurrent generation job on a machine with several, without a scheduler of our own.

Snakemake limits how many generation jobs run at once through the ``gpu`` resource but does not
say which device each should use, and sets no ``CUDA_VISIBLE_DEVICES``. Each job therefore
claims free device slots itself: one lock file per device, taken with ``flock``. The kernel
releases a lock when its holder exits, however it dies, so a killed job never strands a GPU, and
two jobs can never hold the same slot.

A slot's label is the device's number as CUDA counts it with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``,
which every job sets: CUDA's own default counts the fastest GPU first, ``nvidia-smi`` counts by PCI
bus, and on a machine of mixed GPUs the two disagree, so that a job would lock one GPU and run on
another. MIG instances are refused: CUDA shows a process one MIG instance at most, and
``nvidia-smi``'s GPU numbers do not name them.
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
ORDER = "PCI_BUS_ID"  # CUDA_DEVICE_ORDER in every job: CUDA numbers the GPUs as nvidia-smi does


class NotEnoughGPUs(RuntimeError):
    """A job asks for more GPUs than the machine shows it."""


class UnsupportedGPUs(RuntimeError):
    """The visible devices cannot be given out as slots (MIG instances, another device order)."""


MIG_HELP = (
    "MIG instances are not supported as GPU slots (CUDA gives a process one MIG instance at most, and "
    "the slots number whole GPUs): run on whole GPUs, by disabling MIG (`nvidia-smi -i N -mig 0`, as an "
    "administrator) or by making only GPUs without MIG visible (CUDA_VISIBLE_DEVICES=0,1 or GPU-<uuid>)"
)


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
    choice), else every GPU ``nvidia-smi`` lists, numbered in PCI bus order (:func:`nvidia_smi_gpus`),
    else none. MIG instances and a device order other than PCI bus order are refused (:class:`UnsupportedGPUs`)."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        devices = [d.strip() for d in environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"]
        if any(d.startswith("MIG-") for d in devices):
            raise UnsupportedGPUs(
                f"CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']} names MIG instances. {MIG_HELP}"
            )
    else:
        devices = list(nvidia_smi_gpus())
    if any(d.isdigit() for d in devices):  # numbers depend on the order; GPU-<uuid> labels do not
        check_device_order(environ)
    return devices


def check_device_order(environ: Mapping[str, str]) -> None:
    """Refuse a ``CUDA_DEVICE_ORDER`` other than PCI bus order: under it the slot numbers (and a user's
    CUDA_VISIBLE_DEVICES=0,1) would name other GPUs than nvidia-smi's."""
    order = environ.get("CUDA_DEVICE_ORDER", ORDER)
    if order != ORDER:
        raise UnsupportedGPUs(
            f"CUDA_DEVICE_ORDER={order}: the GPU slots number the GPUs in PCI bus order, as nvidia-smi does, "
            f"and each job sets CUDA_DEVICE_ORDER={ORDER}; unset it (or set {ORDER})"
        )


def _nvidia_smi(*args: str) -> str | None:
    """``nvidia-smi``'s output for ``args``; None when it is missing or fails (no usable GPU)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None


def nvidia_smi_gpus() -> dict[str, tuple[str, str]]:
    """Every GPU ``nvidia-smi`` lists, in PCI bus order: slot label -> (nvidia-smi's index, PCI bus id).
    The label is the GPU's rank by bus id, which is CUDA's number for it under
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; nvidia-smi's own index usually equals it, but nothing promises
    that, so the job log shows both. Refuses MIG instances."""
    listing = _nvidia_smi("-L") or ""
    if any(line.lstrip().startswith("MIG") for line in listing.splitlines()):
        raise UnsupportedGPUs(f"nvidia-smi lists MIG instances:\n{listing.strip()}\n{MIG_HELP}")
    out = _nvidia_smi("--query-gpu=index,pci.bus_id", "--format=csv,noheader") or ""
    rows = [[field.strip() for field in line.split(",")] for line in out.splitlines() if "," in line]
    by_bus = sorted((bus.upper(), index) for index, bus in rows)
    return {str(rank): (index, bus) for rank, (bus, index) in enumerate(by_bus)}


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
    ``with`` block: claimed among the visible ones and made the only ones the job sees, numbered in
    PCI bus order. None without a visible GPU (the job runs on the CPU). Enter it before torch is
    imported: CUDA reads ``CUDA_VISIBLE_DEVICES`` and ``CUDA_DEVICE_ORDER`` once, when it starts."""
    devices = visible_devices() if wanted else []
    # Where the GPUs came from nvidia-smi, the log names each slot's GPU as nvidia-smi shows it.
    named = nvidia_smi_gpus() if devices and "CUDA_VISIBLE_DEVICES" not in os.environ else {}
    with claim(wanted if devices else 0, devices) as slots:
        if slots:
            os.environ["CUDA_DEVICE_ORDER"] = ORDER
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(slots)
            where = "".join(f"; slot {s}: nvidia-smi GPU {named[s][0]}, PCI {named[s][1]}" for s in slots if s in named)
            print(f"GPU slot(s) {','.join(slots)} of {','.join(devices)} (CUDA_DEVICE_ORDER={ORDER}{where})")
        yield slots
