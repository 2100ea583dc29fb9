"""A full disk is named as one (issue 24, case 8): a job that fails writing to a full device says so in
one line on the terminal, its traceback in its log; and the workflow refuses to start on a disk with
too little room (Snakemake would fail backing up outputs, or blame write permissions)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cotrepro import joblog

REPO = Path(__file__).resolve().parents[2]
JOB = """
from cotrepro.joblog import log_to
log_to("job.log")
print("started")
with open("/dev/full", "w") as fh:  # every write to /dev/full fails with ENOSPC, as a full disk's
    fh.write("x" * 100_000)
    fh.flush()
"""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_job_that_runs_out_of_disk_ends_in_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", JOB],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert run.returncode == 1
    # This disk is not full, so the line is the plain one; on a full disk it names the disk (below).
    assert run.stderr.strip() == "no space left on device ([Errno 28] No space left on device): free space and rerun"
    log = (tmp_path / "job.log").read_text()
    assert log.startswith("started\n") and "Traceback" in log and log.rstrip().endswith("No space left on device")


def test_a_failing_job_that_is_not_out_of_disk_keeps_its_traceback(tmp_path):
    job = "from cotrepro.joblog import log_to\nlog_to('job.log')\nraise KeyError('architecture')\n"
    run = subprocess.run(
        [sys.executable, "-c", job],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert run.returncode == 1 and run.stderr == ""
    assert "KeyError: 'architecture'" in (tmp_path / "job.log").read_text()


def test_the_full_disk_line_names_the_disk_below_the_threshold(tmp_path, monkeypatch):
    assert joblog.disk_full_line(tmp_path) is None  # this machine's temp disk has room
    monkeypatch.setattr(joblog, "DISK_FULL_BYTES", 2**62)  # every disk is "full" below 4 EiB
    line = joblog.disk_full_line(tmp_path)
    assert line.startswith(f"the disk holding {tmp_path.resolve()} is full (") and "MiB free" in line
    assert "rerun the same command" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root)")
def test_the_workflow_refuses_to_start_on_a_disk_with_too_little_room(tmp_path):
    from workflow_helpers import run_snakemake, write_config

    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(small)], check=True)
    try:
        config = write_config(tmp_path / "config.yaml")
        proc = run_snakemake(REPO, small / "work", config, check=False)
        assert proc.returncode != 0
        assert f"the disk holding {(small / 'work').resolve()} is full (" in proc.stderr
        assert not (small / "work" / "results").exists() and not (small / "work" / "logs").exists()  # no job ran
        dry = run_snakemake(REPO, small / "work", config, "-n")  # a dry run writes nothing: not refused
        assert "generate" in dry.stdout and "This was a dry-run" in dry.stdout
    finally:
        subprocess.run(["umount", str(small)], check=True)
