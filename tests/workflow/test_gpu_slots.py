"""GPU slot assignment without GPUs: real processes, real flock, real Snakemake scheduling."""

import json
import multiprocessing
import os
import re
import signal
import time
from pathlib import Path

import pytest
from workflow_helpers import REPO, run_snakemake, write_config

from cotrepro.generation.gpu_slots import NotEnoughGPUs, claim, default_lock_dir, visible_devices


def test_visible_devices_follow_cuda_visible_devices():
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "0,2"}) == ["0", "2"]
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "GPU-3f2a, GPU-77b1"}) == ["GPU-3f2a", "GPU-77b1"]
    assert visible_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "-1"}) == []


def test_inside_a_slurm_job_the_locks_are_the_jobs_own():
    a = default_lock_dir({"SLURM_JOB_ID": "41"})
    b = default_lock_dir({"SLURM_JOB_ID": "42"})
    assert a != b and a.parent == b.parent == default_lock_dir({})
    assert default_lock_dir({"SLURM_JOB_ID": "41", "COTREPRO_GPU_LOCK_DIR": "/x"}) == Path("/x")


def _worker(count, devices, lock_dir, log, hold):
    with claim(count, devices, lock_dir=lock_dir, poll=0.01) as slots:
        start = time.monotonic()
        time.sleep(hold)
        end = time.monotonic()
    with open(log, "a") as fh:
        fh.write(json.dumps({"slots": slots, "start": start, "end": end}) + "\n")


def _run_workers(jobs, lock_dir, log):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(count, devices, lock_dir, log, hold)) for count, devices, hold in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return [json.loads(line) for line in Path(log).read_text().splitlines()]


def _overlaps(records):
    """Pairs of holders whose holding times overlapped on one slot."""
    bad = []
    for i, a in enumerate(records):
        for b in records[i + 1 :]:
            if set(a["slots"]) & set(b["slots"]) and a["start"] < b["end"] and b["start"] < a["end"]:
                bad.append((a, b))
    return bad


def test_concurrent_jobs_never_share_a_slot(tmp_path):
    jobs = [(1, ["0", "1"], 0.25)] * 6 + [(2, ["0", "1"], 0.25)] * 2
    records = _run_workers(jobs, tmp_path / "locks", tmp_path / "log.jsonl")
    assert len(records) == 8 and not _overlaps(records)
    assert {tuple(r["slots"]) for r in records} == {("0",), ("1",), ("0", "1")}
    # Two single-GPU jobs did run side by side on different GPUs (the point of several GPUs).
    singles = [r for r in records if len(r["slots"]) == 1]
    assert any(a["start"] < b["end"] and b["start"] < a["end"] for a in singles for b in singles if a is not b)


def test_a_killed_holder_frees_its_slot(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    holder = ctx.Process(target=_worker, args=(1, ["0"], tmp_path, tmp_path / "log", 60))
    holder.start()
    deadline = time.monotonic() + 20
    while not (tmp_path / "gpu-0.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    with pytest.raises(TimeoutError), claim(1, ["0"], lock_dir=tmp_path, timeout=0.2, poll=0.05):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with claim(1, ["0"], lock_dir=tmp_path, timeout=5, poll=0.05) as slots:
        assert slots == ["0"]


def test_asking_for_more_gpus_than_visible_is_a_clear_error(tmp_path):
    with (
        pytest.raises(NotEnoughGPUs, match=r"needs 2 GPU\(s\) but 1 are visible \(0\)"),
        claim(2, ["0"], lock_dir=tmp_path),
    ):
        pass


def test_workflow_runs_one_generation_job_per_visible_gpu(tmp_path):
    """Two 'GPUs' made visible on this CPU machine: the workflow offers two gpu slots, runs the two
    models' generation jobs at once and gives each its own device (torch, seeing no CUDA, computes
    on CPU); every unit of a model's job ran on that job's device."""
    path = write_config(
        tmp_path / "gpus.yaml",
        models=["tiny-llama", "tiny-t5"],
        methods=["zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot"],
        limit=4,
        model_specs={
            "tiny-llama": {"source": "tiny", "architecture": "causal"},
            "tiny-t5": {"source": "tiny", "architecture": "seq2seq"},
        },
        generation={"device": "auto", "threads": 1, "max_new_tokens": {"reasoning": 8, "answer": 4}},
    )
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "COTREPRO_GPU_LOCK_DIR": str(tmp_path / "locks")}
    proc = run_snakemake(REPO, tmp_path / "work", path, "--cores", "4", "results/accuracy.csv", env=env)
    generations = tmp_path / "work/results/generations"
    jobs = {}
    for model in ("tiny-llama", "tiny-t5"):
        metas = [json.loads(p.read_text()) for p in (generations / model).rglob("*.meta.json")]
        assert len(metas) == 4 and len({tuple(m["gpu_slots"]) for m in metas}) == 1
        jobs[model] = metas[0]["gpu_slots"]
        log = (tmp_path / f"work/logs/generate/{model}.log").read_text()
        assert f"GPU slot(s) {jobs[model][0]} of 0,1" in log
    assert {tuple(slots) for slots in jobs.values()} == {("0",), ("1",)}  # never two jobs on one device
    # Side by side: Snakemake started both generation jobs before either finished (its log is in event
    # order; with one slot the second would start only after the first finished).
    events = re.findall(r"^\s*(?:local)?rule generate:|Finished jobid: \d+ \(Rule: generate\)", proc.stderr, re.M)
    assert len(events) == 4 and all("rule generate:" in e for e in events[:2]), events
