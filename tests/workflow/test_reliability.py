"""Workflow reliability, run through real Snakemake: a killed generation job resumes, weights come
from a (local) Hub with their exact commit recorded, and a corrupted download is rejected."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
from servers import HubServer, StaticServer
from workflow_helpers import AFTER_SCORES, REPO, planned_jobs, run_snakemake, snakemake_cmd, write_config

from cotrepro.data.tasks.arithmetic import GSM8K_TEST
from cotrepro.generation.runner import journal_path
from cotrepro.io import read_json, read_jsonl
from cotrepro.row_integrity import CONTENT, content_digest, stamp

COMMIT = "feedface" * 5


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def generation_process(pid: int) -> int | None:
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"generate.py" in cmdline:
            return child
    return None


def test_killed_generation_job_resumes_without_loss_or_duplicates(tmp_path):
    """The job's first unit finishes, then the process dies in its second. Snakemake removes the
    failed job's outputs, but every generated row is in a journal: the rerun generates only the rest."""
    config = write_config(
        tmp_path / "slow.yaml",
        models=["tiny-llama"],
        methods=["zero_shot", "few_shot_cot"],
        model_specs={"tiny-llama": {"source": "tiny", "architecture": "causal", "batch_size": 1}},
        generation={
            "device": "cpu",
            "threads": 1,
            "batch_size": 1,
            "stop": ["@@@@"],
            "max_new_tokens": {"reasoning": 300, "answer": 8},
        },
    )
    work = tmp_path / "work"
    first, target = (f"results/generations/tiny-llama/arith_demo/{m}.jsonl" for m in ("zero_shot", "few_shot_cot"))
    journal = journal_path(work / target)
    proc = subprocess.Popen(
        snakemake_cmd(REPO, work, config, target), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (journal.exists() and len(journal.read_text().splitlines()) >= 3):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    victim = generation_process(proc.pid)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)  # what the OOM killer or a preempted node does
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output
    assert not (work / target).exists() and not (work / first).exists(), output  # removed: the job failed
    finished_unit = read_jsonl(journal_path(work / first))
    assert len(finished_unit) == 20  # ... but its rows are kept
    done = read_jsonl(journal)
    assert 3 <= len(done) < 20, len(done)

    run_snakemake(REPO, work, config, target)
    rows = read_jsonl(work / target)
    assert [r["id"] for r in rows] == [f"arith_demo-{i:04d}" for i in range(20)]
    stats = read_json(work / target.replace(".jsonl", ".meta.json"))["stats"]
    assert stats["resumed_rows"] == len(done) and stats["generated_rows"] == 20 - len(done)
    # The rows from before the kill, untouched but for the content hash the finished file stamps.
    assert all(r[CONTENT] == content_digest(r) for r in rows)
    kept = {r["id"]: {k: v for k, v in r.items() if k != CONTENT} for r in rows}
    assert all(kept[r["id"]] == r for r in done)
    first_stats = read_json(work / first.replace(".jsonl", ".meta.json"))["stats"]
    assert first_stats["resumed_rows"] == 20 and first_stats["generated_rows"] == 0
    assert read_jsonl(work / first) == [stamp(r) for r in sorted(finished_unit, key=lambda r: r["id"])]  # longest first
    assert not journal.exists() and not journal_path(work / first).exists()
    log = (work / "logs/generate/tiny-llama.log").read_text()
    assert log.count("loading the model") == 1


def test_hub_model_downloads_with_exact_commit_and_chat_template(tmp_path, tiny_models):
    files = {p.name: p.read_bytes() for p in tiny_models["causal"].iterdir()}
    files["pytorch_model.bin"] = b"decoy"
    config = write_config(
        tmp_path / "hub.yaml",
        models=["hub-llama"],
        limit=3,
        model_specs={
            "hub-llama": {"repo": "cotrepro-tests/tiny-llama", "architecture": "causal", "chat_template": True}
        },
    )
    work = tmp_path / "work"
    with HubServer({"cotrepro-tests/tiny-llama": {"commit": COMMIT, "files": files}}) as hub:
        run_snakemake(
            REPO,
            work,
            config,
            env={"HF_ENDPOINT": hub.base_url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"},
        )
    manifest = read_json(work / "resources/models/hub-llama.json")
    assert manifest["resolved_revision"] == COMMIT and manifest["requested_revision"] == "main"
    assert "pytorch_model.bin" not in {f["path"] for f in manifest["files"]}
    meta = read_json(work / "results/generations/hub-llama/arith_demo/zero_shot.meta.json")
    assert meta["model"]["resolved_revision"] == COMMIT and meta["prompt_format"] == "chat_template"
    rows = read_jsonl(work / "results/generations/hub-llama/arith_demo/zero_shot.jsonl")
    assert len(rows) == 3 and all(r["prompt"].startswith("<|user|>\nQ: ") for r in rows)
    acc = pd.read_csv(work / "results/accuracy.csv")
    assert set(acc["revision"]) == {COMMIT} and set(acc["n"]) == {3}


def test_corrupted_dataset_download_is_rejected_before_any_generation(tmp_path):
    path = "/" + GSM8K_TEST.url("").lstrip("/")
    with StaticServer({path: b'{"question": "not the pinned file", "answer": "#### 1"}\n'}) as mirror:
        config = write_config(
            tmp_path / "gsm.yaml",
            models=["tiny-t5"],
            tasks=["gsm8k"],
            model_specs={"tiny-t5": {"source": "tiny", "architecture": "seq2seq"}},
            sources={"github_base_url": mirror.base_url, "retries": 0},
        )
        proc = run_snakemake(REPO, tmp_path / "work", config, check=False)
    log = (tmp_path / "work/logs/download_dataset/gsm8k/test.jsonl.log").read_text()
    assert proc.returncode != 0
    assert f"rejected {mirror.base_url}{path}" in log and GSM8K_TEST.sha256 in log
    assert not list((tmp_path / "work/resources/datasets").rglob("test.jsonl*"))
    assert not (tmp_path / "work/results/generations").exists()


def test_dry_run_lists_the_expected_jobs(tmp_path):
    proc = run_snakemake(REPO, tmp_path, REPO / "config/config.yaml", "--dry-run")
    jobs = planned_jobs(proc.stdout + proc.stderr)
    # 14 tasks, 11 of them downloaded; 10 exemplar sets, five of them Wei et al.'s, downloaded
    # (GSM8K, AQuA, CSQA, StrategyQA, date).
    assert jobs == {
        "download_dataset": 11,
        "prepare_task": 14,
        "download_exemplars": 5,
        "exemplars": 10,
        "download_model": 6,
        "generate": 6,  # one a model, for all its (task, method) units
        "batch_invariance": 6,  # on by default: gsm8k's few-shot CoT again at batch size 1
        "batch_invariance_summary": 1,
        "extract": 6,
        **AFTER_SCORES,
    }, jobs


def test_dry_run_of_a_task_subset_named_on_the_command_line(tmp_path):
    proc = run_snakemake(
        REPO,
        tmp_path,
        REPO / "config/config.yaml",
        "--dry-run",
        "--config",
        "tasks=[csqa,date]",
        "models=[flan-t5-small]",
    )
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs == {
        "download_dataset": 2,
        "prepare_task": 2,
        "download_exemplars": 2,
        "exemplars": 2,
        "download_model": 1,
        "generate": 1,
        "batch_invariance": 1,
        "batch_invariance_summary": 1,
        "extract": 1,
        **AFTER_SCORES,
    }, jobs
    assert "results/exemplars/wei2022-csqa.json" in proc.stdout and "resources/datasets/date/task.json" in proc.stdout


def test_dry_run_with_self_consistency_plans_its_units_and_curve(tmp_path):
    proc = run_snakemake(
        REPO,
        tmp_path,
        REPO / "config/config.yaml",
        "--dry-run",
        "--printshellcmds",
        "--config",
        "tasks=[gsm8k,svamp]",
        "models=[flan-t5-small]",
        "methods=[few_shot_cot,few_shot_cot_sc]",
        "method_tasks={few_shot_cot_sc: [gsm8k]}",
    )
    out = proc.stdout + proc.stderr
    jobs = planned_jobs(out)
    assert jobs["generate"] == 1 and jobs["paths_curve"] == 1 and jobs["figures"] == 1, jobs
    assert "results/generations/flan-t5-small/gsm8k/few_shot_cot_sc.jsonl" in out
    assert "results/generations/flan-t5-small/svamp/few_shot_cot_sc.jsonl" not in out  # narrowed by method_tasks
    assert "results/figures/paths.pdf" in out and "results/accuracy_vs_paths.csv" in out
