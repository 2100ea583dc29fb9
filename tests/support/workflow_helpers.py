"""Running the real Snakemake workflow from tests, in temporary directories."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
AFTER_SCORES = {
    "aggregate": 1,
    "disagreements": 1,
    "paths_curve": 1,
    "selection": 1,
    "significance": 1,
    "transcripts": 1,
    "figures": 1,
    "report": 1,
    "paper_fragments": 1,
    "paper": 1,
    "all": 1,
}
"""The jobs a run plans once the scores change: one each, from accuracy.csv to the paper."""
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "src", "config", "profiles", "paper", "report", "envs")


def write_config(path: Path, **overrides) -> Path:
    """A small demo config (tiny models, arith_demo, zero-shot, short budgets on CPU) with top-level
    keys replaced by ``overrides``, written to ``path``."""
    config = {
        "demo": True,
        "tasks": ["arith_demo"],
        "methods": ["zero_shot"],
        "generation": {"device": "cpu", "threads": 1, "max_new_tokens": {"reasoning": 16, "answer": 8}},
    }
    config.update(overrides)
    path.write_text(yaml.safe_dump(config))
    return path


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow (code included), so a test may edit it."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def snakemake_cmd(workflow: Path, workdir: Path, configfile: Path, *args: str) -> list[str]:
    """The command line that runs ``workflow``'s Snakefile in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(workflow / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *args,
    ]


def run_snakemake(
    workflow: Path,
    workdir: Path,
    configfile: Path,
    *args: str,
    env: dict | None = None,
    check: bool = True,
    timeout: int = 600,
) -> subprocess.CompletedProcess:
    """Run Snakemake to completion; on failure (when ``check``) show its output and job logs."""
    proc = subprocess.run(
        snakemake_cmd(workflow, workdir, configfile, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log")))
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}\n{logs}")
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table (empty when nothing is to be done)."""
    counts: dict[str, int] = {}
    in_table = False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            in_table = True
            continue
        m = re.match(r"^(\w+)\s+(\d+)\s*$", line)
        if in_table and m:
            if m[1] == "total":
                break
            counts[m[1]] = int(m[2])
    return counts
