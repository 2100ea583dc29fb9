"""The workflow through the real SLURM executor (snakemake-executor-plugin-slurm and profiles/slurm),
against a single-node SLURM cluster that this test starts on the machine, gives the same results
as a local run.

Skipped where SLURM and munge are not installed or the test does not run as root. Set-up:
`apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge`.
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import pytest
from slurm_cluster import ClusterBusy, slurm_cluster, unavailable_reason
from workflow_helpers import REPO, copy_workflow, run_snakemake, write_config

from cotrepro.io import read_jsonl

MODELS, TASK, METHODS = ("tiny-t5", "tiny-llama"), "arith_demo", ("zero_shot", "zero_shot_cot")
TARGET = "results/accuracy.csv"
# Rules that must run as SLURM jobs for TARGET (downloads are local rules; the demo downloads nothing).
REMOTE_RULES = {"build_tiny_model", "generate", "extract", "aggregate"}
# Hard limits (seconds) for each Snakemake run; a run past them fails the test, never hangs it.
LOCAL_TIMEOUT, SLURM_TIMEOUT = 600, 900
pytestmark = pytest.mark.timeout(LOCAL_TIMEOUT + SLURM_TIMEOUT + 120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        with slurm_cluster(tmp_path_factory.mktemp("slurm-state")) as running:
            yield running
    except ClusterBusy as busy:
        pytest.skip(str(busy))


def slurm_args(workflow: Path, partition: str) -> list[str]:
    """profiles/slurm as a user runs it, with what this one-node test cluster needs on top."""
    return [
        "--workflow-profile",
        str(workflow / "profiles" / "slurm"),
        # No slurmdbd here, so no sacct data: without this the run was seen to hang after its jobs
        # ended. Finished jobs stay visible to squeue for MinJobAge (600 s in the test cluster).
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--seconds-between-status-checks",
        "3",
        "--slurm-no-account",
        "--slurm-keep-successful-logs",
        # The profile's sizes (32 GB, 4 h for generation) are for real GPUs; these fit this node.
        "--default-resources",
        f"slurm_partition='{partition}'",
        "mem_mb=500",
        "runtime=15",
        "--set-resources",
        "generate:mem_mb=1000",
        "generate:runtime=15",
        "--retries",
        "0",
    ]


def generation_rows(path: Path) -> list[dict]:
    """A generation file's rows without their timing field, the one thing that may differ, and the
    content hash that covers it."""
    return [{k: v for k, v in row.items() if k not in ("seconds", "content")} for row in read_jsonl(path)]


def test_workflow_through_slurm_matches_local_run(cluster, tmp_path):
    workflow = copy_workflow(tmp_path / "repo")
    config = write_config(
        tmp_path / "config.yaml",
        models=list(MODELS),
        tasks=[TASK],
        methods=list(METHODS),
        limit=5,
        model_specs={
            "tiny-t5": {"source": "tiny", "architecture": "seq2seq"},
            "tiny-llama": {"source": "tiny", "architecture": "causal"},
        },
    )
    local, remote = tmp_path / "local", tmp_path / "slurm"

    t0 = time.perf_counter()
    run_snakemake(workflow, local, config, TARGET, timeout=LOCAL_TIMEOUT)
    t1 = time.perf_counter()
    try:
        proc = run_snakemake(
            workflow, remote, config, TARGET, *slurm_args(workflow, cluster.partition), timeout=SLURM_TIMEOUT
        )
    except AssertionError as err:  # show what the cluster saw as well
        raise AssertionError(f"{err}\n{cluster.logs()}") from None
    t2 = time.perf_counter()
    print(f"local run: {t1 - t0:.1f} s, SLURM run: {t2 - t1:.1f} s")

    # The jobs really went through SLURM: each one's sbatch comment names its rule, all completed.
    jobs = cluster.jobs()
    rules = {job["comment"].removeprefix("rule_").split("_wildcards_")[0] for job in jobs}
    assert rules >= REMOTE_RULES, (jobs, proc.stderr[-3000:])
    assert all(job["state"] == "COMPLETED" for job in jobs), jobs
    n_generate = sum(job["comment"].startswith("rule_generate_") for job in jobs)
    assert n_generate == len(MODELS), jobs  # one a model, for all its units
    slurm_logs = list((remote / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert any("generate" in str(p) for p in slurm_logs), slurm_logs
    assert not (local / ".snakemake" / "slurm_logs").exists()

    # Identical results.
    assert (remote / TARGET).read_text() == (local / TARGET).read_text()
    for model in MODELS:
        for method in METHODS:
            rel = f"results/generations/{model}/{TASK}/{method}.jsonl"
            rows = generation_rows(local / rel)
            assert len(rows) == 5
            assert generation_rows(remote / rel) == rows, rel
            scores = rel.replace("results/generations/", "results/scores/")
            assert (remote / scores).read_text() == (local / scores).read_text(), scores


def job_resources(dry_run_output: str, rule: str) -> dict[str, dict[str, str]]:
    """model -> resources of each ``rule`` job in a dry run's output."""
    found = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", dry_run_output):
        if not re.match(rf"(?:local)?rule {rule}:", block):
            continue
        model = re.search(r"wildcards: .*\bmodel=([\w.-]+)", block)[1]
        resources = re.search(r"resources: (.*)", block)[1]
        found[model] = dict(item.split("=", 1) for item in resources.split(", "))
    return found


def test_slurm_profile_sizes_generation_per_model(tmp_path):
    """No cluster needed: a dry run of the full configuration through profiles/slurm."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    targets = [f"results/generations/{m}/gsm8k/zero_shot.jsonl" for m in ("flan-t5-small", "phi-2", "zephyr-7b-beta")]
    proc = run_snakemake(
        REPO,
        tmp_path / "work",
        REPO / "config" / "config.yaml",
        *targets,
        "--dry-run",
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        timeout=300,
    )
    generate = job_resources(proc.stdout + proc.stderr, "generate")
    assert set(generate) == {"flan-t5-small", "phi-2", "zephyr-7b-beta"}, generate
    # GPUs come from the workflow (model_specs gpus, default 1), memory and time from the profile:
    # time per task of the run (14 in config.yaml), since one job generates all of a model's units.
    assert {m: r["gpu"] for m, r in generate.items()} == {m: "1" for m in generate}
    assert generate["zephyr-7b-beta"]["mem_mb"] == "64000" and generate["zephyr-7b-beta"]["runtime"] == str(14 * 60)
    assert generate["phi-2"]["mem_mb"] == "32000" and generate["phi-2"]["runtime"] == str(14 * 30)
    downloads = job_resources(proc.stdout + proc.stderr, "download_model")
    assert downloads["zephyr-7b-beta"]["mem_mb"] == "4000" and "gpu" not in downloads["zephyr-7b-beta"]
