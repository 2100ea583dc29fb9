"""A real single-node SLURM cluster on this machine, for tests (see /work/shared/notes/slurm-single-node.md).

Debian's packages (`apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge`)
are started by hand as root: munged (as the munge user), slurmctld, slurmd. The configuration
must sit at the default path /etc/slurm/slurm.conf: the job step inside an allocation drops
every SLURM_* variable, SLURM_CONF included, so another path is not found there. A
slurm.conf that this module did not write is never touched. State, spool, pid and log files go
to a temporary folder; the daemons are stopped by their pid files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
# The first line of a file the tests wrote (kept as it was before the module moved to support/, so
# that the files earlier runs wrote are still recognised as the tests' own).
MARKER = "# written by cotrepro's tests/slurm_cluster.py"
# One test cluster per machine at a time: /etc/slurm/slurm.conf is shared by every test session.
LOCK = Path("/run/lock" if Path("/run/lock").is_dir() else "/tmp") / "cotrepro-slurm-test.lock"
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
MUNGE_PID = MUNGE_RUN / "munged.pid"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "srun", "munge", "unmunge", "runuser")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
PARTITION = "debug"


def which(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def unavailable_reason() -> str | None:
    """Why no test cluster can be started here, or None when it can."""
    missing = [name for name in DAEMONS + CLIENTS if which(name) is None]
    if missing:
        return (
            f"SLURM/munge not installed (missing {', '.join(missing)}); install with "
            "`apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge`"
        )
    if os.geteuid() != 0:
        return "starting a SLURM test cluster needs root (the daemons run as root and write /etc/slurm/slurm.conf)"
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
        return f"{SLURM_CONF} exists and was not written by the tests; a real SLURM configuration is left alone"
    return None


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free right now (all held open together while they are picked)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


def slurm_conf(state: Path, node: str, cpus: int, memory_mb: int) -> str:
    ctld_port, slurmd_port = _free_ports(2)  # not the default ones, which a forgotten daemon may hold
    return f"""{MARKER}; removed when its test cluster stops
ClusterName=cotrepro-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
# Finished jobs stay visible to `squeue --states=all` (the plugin's status command here, there
# being no slurmdbd for sacct) for this many seconds.
MinJobAge=600
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _run(*cmd: str, timeout: float = 30, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check, **kwargs)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (a daemon that exited but nobody reaped) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop(pidfile: Path, timeout: float = 15) -> None:
    """Stop the daemon whose pid is in ``pidfile`` (TERM, then KILL), and wait until it is gone."""
    pid = _read_pid(pidfile)
    if pid is None or not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _wait_for_pidfile(pidfile: Path, what: str, log: Path | None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _read_pid(pidfile)
        if pid is not None and _alive(pid):
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start (no live pid in {pidfile})\n{tail}")


def _munge_works() -> bool:
    try:
        cred = _run(which("munge"), "-n", timeout=10, check=False)
        if cred.returncode != 0:
            return False
        return _run(which("unmunge"), input=cred.stdout, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _start_munged() -> bool:
    """Start munged as the munge user unless one already answers; True when this call started it."""
    if _munge_works():
        return False
    if not MUNGE_KEY.exists():  # the package normally creates it; 128 random bytes do as well
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        MUNGE_KEY.write_bytes(os.urandom(128))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
    for folder in (MUNGE_RUN, Path("/var/lib/munge"), Path("/var/log/munge")):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    _run(which("runuser"), "-u", "munge", "--", which("munged"), timeout=30)
    _wait_for_pidfile(MUNGE_PID, "munged", Path("/var/log/munge/munged.log"))
    deadline = time.monotonic() + 10
    while not _munge_works():
        if time.monotonic() > deadline:
            raise RuntimeError("munged started but `munge -n | unmunge` fails")
        time.sleep(0.2)
    return True


class ClusterBusy(RuntimeError):
    """Another test session on this machine runs the test cluster."""


@contextmanager
def _machine_lock(timeout: float):
    with open(LOCK, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterBusy(
                        f"another test session held {LOCK} (the SLURM test cluster) for more than {timeout:.0f} s"
                    ) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SlurmCluster:
    """The running test cluster: its state folder, partition and client helpers."""

    def __init__(self, state: Path, node: str):
        self.state, self.node, self.partition = state, node, PARTITION

    @property
    def ctld_log(self) -> Path:
        return self.state / "slurmctld.log"

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (finished ones until MinJobAge): id, name, state, comment."""
        out = _run(which("squeue"), "--states=all", "--noheader", "--format=%i|%j|%T|%k", timeout=30).stdout
        return [
            dict(zip(("id", "name", "state", "comment"), line.split("|", 3), strict=False))
            for line in out.splitlines()
            if line.strip()
        ]

    def logs(self) -> str:
        return "\n".join(
            f"== {p}\n{p.read_text(errors='replace')[-4000:]}"
            for p in (self.ctld_log, self.state / "slurmd.log")
            if p.exists()
        )


def _wait_until_idle(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    states = ""
    while time.monotonic() < deadline:
        proc = _run(which("sinfo"), "-h", "-o", "%t", timeout=10, check=False)
        states = proc.stdout.strip()
        if proc.returncode == 0 and states == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"the SLURM node did not become idle (sinfo says {states!r})")


@contextmanager
def slurm_cluster(state: Path, lock_timeout: float = 900):
    """Start munged (unless running), slurmctld and slurmd on this machine; stop them all afterwards.

    Callers check ``unavailable_reason()`` first. Test sessions running at the same time take
    turns (a file lock); ``ClusterBusy`` when the turn does not come within ``lock_timeout`` s.
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    with _machine_lock(lock_timeout):
        yield from _cluster(Path(state))


def _cluster(state: Path):
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
        raise RuntimeError(f"{SLURM_CONF} appeared and was not written by the tests; leaving it alone")
    for sub in ("ctld", "spool"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory_mb = max(1024, _mem_total_mb() - 1024)
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(slurm_conf(state, node, cpus, memory_mb))
    started_munged = False
    try:
        started_munged = _start_munged()
        # -i: ignore state from a previous run (there is none in a fresh folder, but be explicit)
        _run(which("slurmctld"), "-i", timeout=30)
        _wait_for_pidfile(state / "slurmctld.pid", "slurmctld", state / "slurmctld.log")
        _run(which("slurmd"), timeout=30)
        _wait_for_pidfile(state / "slurmd.pid", "slurmd", state / "slurmd.log")
        _wait_until_idle()
        yield SlurmCluster(state, node)
    finally:
        # Jobs still running (a test that timed out) go first, then the daemons.
        if _read_pid(state / "slurmctld.pid"):
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                _run(which("scancel"), "--user=root", timeout=15, check=False)
        _stop(state / "slurmd.pid")
        _stop(state / "slurmctld.pid")
        if started_munged:
            _stop(MUNGE_PID)
        if SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
            SLURM_CONF.unlink()
