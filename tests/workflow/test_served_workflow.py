"""A served model in the real workflow: its generation job starts ``transformers serve`` with the
model's serve command; a Ctrl-C to Snakemake mid-job leaves no server behind, and the rerun resumes
the journaled rows."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from served_servers import SERVE, serve_env
from workflow_helpers import REPO, planned_jobs, run_snakemake, snakemake_cmd, write_config

from cotrepro.generation.runner import journal_path
from cotrepro.io import read_json, read_jsonl


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (zombies have none)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_ctrl_c_to_snakemake_leaves_no_server_and_the_rerun_resumes(tmp_path):
    work = tmp_path / "work"
    model_dir = work / "resources/models/tiny/tiny-llama"
    env = serve_env(tmp_path / "hf")
    config = write_config(
        tmp_path / "served.yaml",
        models=["tiny-llama"],
        methods=["few_shot_cot"],
        model_specs={
            "tiny-llama": {
                "source": "tiny",
                "architecture": "causal",
                "backend": "served",
                "serve": SERVE,
                "served_model": "{model_dir}",  # transformers serve names the model by its path
                "max_concurrency": 1,
                "batch_size": 1,  # rows journaled one at a time
            }
        },
        generation={"device": "cpu", "threads": 1, "stop": ["@@@@"], "max_new_tokens": {"reasoning": 64, "answer": 8}},
    )
    target = "results/generations/tiny-llama/arith_demo/few_shot_cot.jsonl"
    journal = journal_path(work / target)
    # Its own session, so that the SIGINT goes to Snakemake's whole group as a terminal's Ctrl-C does.
    proc = subprocess.Popen(
        snakemake_cmd(REPO, work, config, target),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (journal.exists() and len(journal.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    servers = [p for p in processes_naming(str(model_dir)) if p != proc.pid]
    assert servers, "no server process was found while the job generated"
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output
    deadline = time.time() + 30
    while processes_naming(str(model_dir)) and time.time() < deadline:
        time.sleep(0.2)
    assert processes_naming(str(model_dir)) == [], f"a server outlived the interrupted run:\n{output[-3000:]}"
    done = read_jsonl(journal)
    assert 2 <= len(done) < 20

    run_snakemake(REPO, work, config, target, env=env)
    rows = read_jsonl(work / target)
    assert [r["id"] for r in rows] == [f"arith_demo-{i:04d}" for i in range(20)]
    meta = read_json(work / target.replace(".jsonl", ".meta.json"))
    assert meta["stats"]["resumed_rows"] == len(done) and meta["stats"]["generated_rows"] == 20 - len(done)
    assert meta["backend"]["server"]["started_by_job"] is True
    assert processes_naming(str(model_dir)) == []


def test_the_agreement_check_compares_transformers_with_a_server_of_the_same_weights(tmp_path):
    """agreement.backends [hf, served]: the check serves the model with transformers serve, runs the
    same prompts through both engines, stops the server, and the report counts identical completions."""
    work = tmp_path / "work"
    config = write_config(
        tmp_path / "agreement.yaml",
        models=["tiny-llama"],
        model_specs={"tiny-llama": {"source": "tiny", "architecture": "causal"}},
        limit=5,
        batch_invariance=None,
        agreement={
            "model": "tiny-llama",
            "task": "arith_demo",
            "methods": ["zero_shot", "few_shot_cot"],
            "backends": ["hf", "served"],
            "serve": SERVE,
        },
    )
    run_snakemake(REPO, work, config, "results/report.html", env=serve_env(tmp_path / "hf"))
    check = read_json(work / "results/agreement/tiny-llama.json")
    assert check["compared"] == ["hf", "served"]
    assert check["rows"] == 10 and check["identical"] == 10, check["methods"]
    served = check["backends"]["served"]
    assert served["server"]["started_by_job"] and served["capabilities"]["completions"]
    both = [read_jsonl(work / f"results/agreement/tiny-llama/{b}/few_shot_cot.jsonl") for b in ("hf", "served")]
    assert [r["completion"] for r in both[0]] == [r["completion"] for r in both[1]]
    html = (work / "results/report.html").read_text()
    assert "an OpenAI-compatible server (transformers serve) over HTTP" in html
    assert "<strong>10 of 10</strong> completions identical" in html
    assert processes_naming(str(work / "resources/models/tiny/tiny-llama")) == []


def test_the_vllm_config_plans_a_served_generation_per_causal_model(tmp_path):
    """`snakemake -n` on config/config.yaml with config/vllm.yaml over it passes the config check and
    plans a download and a generation job for each of its six models (three served by vLLM)."""
    files = [str(REPO / "config/config.yaml"), str(REPO / "config/vllm.yaml")]
    cmd = [
        *snakemake_cmd(REPO, tmp_path, REPO / "config/config.yaml", "-n", "--quiet", "rules"),
        "--configfile",
        *files,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs["generate"] == 6 and jobs["download_model"] == 6, jobs
