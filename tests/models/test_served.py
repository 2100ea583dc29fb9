"""The served backend against a real ``transformers serve`` on localhost (real HTTP, the tiny
Llama the tests build): greedy rows identical to the in-process backend for the four greedy
methods, self-consistency paths reproducible and distinct, faults from a proxy retried or failed
in one line with the rerun resuming, no key text written, and no server outliving its job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from served_servers import SERVE, FaultProxy, transformers_serve
from task_fixtures import counting_records

from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.sampling import Sampling
from cotrepro.engine.served.backend import served_backend
from cotrepro.engine.served.client import ServedError
from cotrepro.generation import runner

pytestmark = pytest.mark.timeout(900)

RECORDS = counting_records(5)
EXEMPLARS = [
    {"question": "Tom has 2 apples and gets 3 more. How many?", "rationale": "2 + 3 = 5.", "answer": "5"},
    {"question": "Ann has 7 pens and loses 4. How many?", "rationale": "7 - 4 = 3.", "answer": "3"},
]
BUDGET = {"reasoning": 12, "answer": 4}
FAKE_KEY = "sk-cotrepro-FAKE-KEY-7f3a9c"


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    with transformers_serve(tiny_models["causal"], tmp_path_factory.mktemp("serve-home")) as info:
        yield info


def served(tiny_models, base_url, **connection):
    settings = {"base_url": base_url, "served_model": str(tiny_models["causal"])} | connection
    return served_backend(tiny_models["causal"], served=settings, stop=["Q:"], batch_size=4)


def generate(backend, out, method, sampling=None):
    rows, stats = runner.run_generation(
        backend,
        RECORDS,
        method=method,
        exemplars=EXEMPLARS,
        max_new_tokens=BUDGET,
        on_overflow="generate",
        out_path=out,
        fingerprint={"test": 1},
        sampling=sampling,
    )
    return rows, stats


def texts(rows):
    fields = ("prompt", "completion", "stop_reason", "stage2_prompt", "stage2_completion")
    return [{k: r.get(k) for k in fields} for r in rows]


@pytest.mark.parametrize("method", ["zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot"])
def test_greedy_rows_are_identical_to_the_in_process_backend(tiny_models, server, tmp_path, method):
    hf = HFBackend(tiny_models["causal"], "causal", device="cpu", dtype="float32", batch_size=4, stop=["Q:"])
    local, _ = generate(hf, tmp_path / "hf" / f"{method}.jsonl", method)
    remote, stats = generate(served(tiny_models, server["base_url"]), tmp_path / "srv" / f"{method}.jsonl", method)
    assert texts(remote) == texts(local)  # every row, stage 2 included
    assert [r["generated_tokens"] for r in remote] == [r["generated_tokens"] for r in local]
    assert stats["generated_rows"] == len(RECORDS)


def test_self_consistency_paths_are_reproducible_and_distinct(tiny_models, server, tmp_path):
    sampling = Sampling(paths=3, temperature=0.8, top_k=None, top_p=None, seed=0)
    b = served(tiny_models, server["base_url"])
    assert b.capabilities["sampling"] == "generation_config" and b.capabilities["seed_scope"] == "global"
    assert b.capabilities["n"] is False and b.capabilities["logprobs"] is False  # what transformers serve ignores
    first, _ = generate(b, tmp_path / "a.jsonl", "few_shot_cot_sc", sampling)
    again, _ = generate(served(tiny_models, server["base_url"]), tmp_path / "b.jsonl", "few_shot_cot_sc", sampling)
    paths = [[p["completion"] for p in r["paths"]] for r in first]
    assert paths == [[p["completion"] for p in r["paths"]] for r in again]
    assert all(len(set(p)) == 3 for p in paths)  # never k copies of one seeded request


def test_faults_are_retried_and_rows_match_a_clean_run(tiny_models, server, tmp_path):
    clean, _ = generate(served(tiny_models, server["base_url"]), tmp_path / "clean.jsonl", "zero_shot")
    with FaultProxy(server["base_url"], slow_seconds=4) as proxy:
        b = served(
            tiny_models, proxy.base_url, max_concurrency=1, timeout=2, retries=6
        )  # the four faults may hit one request
        # After the probe's requests: a 429 with Retry-After, a 500, a reset and a timeout.
        proxy.faults = {proxy.posts + i: f for i, f in enumerate(["429", "500", "reset", "slow"], 1)}
        started = time.perf_counter()
        rows, _ = generate(b, tmp_path / "faulty.jsonl", "zero_shot")
    assert proxy.log == ["429", "500", "reset", "slow"]
    assert b.usage["retries"] >= 4 and time.perf_counter() - started >= 1  # the Retry-After second was waited
    assert texts(rows) == texts(clean)


def test_server_killed_mid_job_fails_in_one_line_and_the_rerun_resumes(tiny_models, server, tmp_path):
    clean, _ = generate(served(tiny_models, server["base_url"]), tmp_path / "clean.jsonl", "zero_shot")
    out = tmp_path / "killed.jsonl"
    with FaultProxy(server["base_url"]) as proxy:
        b = served(tiny_models, proxy.base_url, max_concurrency=1, retries=2)
        b.batch_size = 2  # journal two rows at a time, so that some are done when the server goes

        def kill():
            proxy.upstream = "http://127.0.0.1:9/v1"  # the server is gone: nothing listens there

        proxy.faults = {proxy.posts + 3: kill}
        with pytest.raises(ServedError) as err:
            generate(b, out, "zero_shot")
        message = str(err.value)
        assert "\n" not in message and "HTTP 502" in message and "gave up after 2 attempts" in message
        journaled = runner.load_journal(runner.journal_path(out), {r["key"] for r in clean})
        assert len(journaled) == 2
        proxy.upstream = server["base_url"]  # the server is back
        rows, stats = generate(b, out, "zero_shot")
    assert stats["resumed_rows"] == 2 and stats["generated_rows"] == len(RECORDS) - 2
    assert [r["id"] for r in rows] == [r["id"] for r in RECORDS] and texts(rows) == texts(clean)


def test_a_setting_the_server_cannot_honour_fails_before_any_request(tiny_models, server):
    b = served(tiny_models, server["base_url"])
    b.capabilities = b.capabilities | {"sampling": None}
    with pytest.raises(ServedError, match="self-consistency needs seeded sampling"):
        b.sample([[1]], ["q"], 4, Sampling(paths=2, temperature=0.7, top_k=None, top_p=None, seed=0))
    assert b.usage["requests"] == 0


def _job(tmp_path, tiny_models, method="zero_shot", serve=SERVE, api_key_env="COTREPRO_TEST_KEY"):
    from cotrepro.generation.job import GenerationJob, GenerationUnit
    from cotrepro.io import write_json, write_jsonl
    from cotrepro.models.tiny import tiny_manifest
    from cotrepro.variants import prompt_settings

    records = tmp_path / "t.jsonl"
    write_jsonl(records, RECORDS[:3])
    manifest = tmp_path / "manifest.json"
    write_json(manifest, tiny_manifest("tiny-llama", "causal", tiny_models["causal"], 0))
    identity = {"served_model": str(tiny_models["causal"]), "server": serve, "tokenizer": None, "context_length": None}
    settings = {
        "backend": "served",
        "architecture": "causal",
        "chat_template": False,
        "max_context": None,
        "max_new_tokens": BUDGET,
        "dtype": "float32",
        "device": "cpu",
        "on_overflow": "generate",
        "stop": ["Q:"],
        "limit": 3,
        "shots": 0,
        "method": {},
        "prompt": prompt_settings(None),
        "served": identity,
    }
    rows = tmp_path / "gen" / f"{method}.jsonl"
    unit = GenerationUnit("t", method, records, None, settings, rows, rows.with_suffix(".meta.json"))
    connection = {
        "base_url": None,
        "serve": serve,
        "serve_timeout": 180,
        "served_model": str(tiny_models["causal"]),
        "api_key_env": api_key_env,
        "max_concurrency": 2,
        "retries": 2,
        "timeout": 60,
        "tokenizer": None,
        "context_length": None,
    }
    log = tmp_path / "logs" / "job.server.log"
    return GenerationJob("tiny-llama", manifest, (unit,), "auto", 1, served=connection, server_log=log)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_job_starts_its_server_stops_it_and_writes_no_key(tiny_models, tmp_path, monkeypatch):
    from cotrepro.generation import job as job_module
    from cotrepro.io import read_json

    home = tmp_path / "hf"
    (home / "hub").mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("COTREPRO_TEST_KEY", FAKE_KEY)
    metas = job_module.run_job(_job(tmp_path, tiny_models))
    server = metas[0]["backend"]["server"]
    assert server["started_by_job"] and server["api_key_env"] == "COTREPRO_TEST_KEY"
    assert metas[0]["stats"]["generated_rows"] == 3 and metas[0]["backend"]["usage"]["completion_tokens"] > 0
    assert read_json(tmp_path / "gen" / "zero_shot.meta.json")["backend"]["capabilities"]["completions"]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".safetensors"]
    assert written and not [p for p in written if FAKE_KEY in p.read_text(errors="replace")]
    port = server["command"][server["command"].index("--port") + 1]
    assert subprocess.run(["fuser", f"{port}/tcp"], capture_output=True).returncode != 0  # nothing listens

    # A failing job stops its server too.
    from cotrepro.engine.served import launcher

    stopped = []
    real_stop = launcher.stop_server

    def stop(process):
        real_stop(process)
        stopped.append(process)

    def boom(*args, **kwargs):
        raise RuntimeError("unit failed")

    monkeypatch.setattr(launcher, "stop_server", stop)
    monkeypatch.setattr(job_module, "_run_units", boom)
    with pytest.raises(RuntimeError, match="unit failed"):
        job_module.run_job(_job(tmp_path, tiny_models))
    assert len(stopped) == 1 and stopped[0].poll() is not None


_HOLDER = """
import sys, time
from pathlib import Path
from cotrepro.engine.served.launcher import launched_server
with launched_server(sys.argv[1], model_dir=Path(sys.argv[2]), served_model="m", log_path=Path(sys.argv[3])) as info:
    print(info["pid"], flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_server_outlives_its_job(tiny_models, tmp_path, how):
    """SIGTERM is what Snakemake sends its jobs on interrupt, SIGINT a Ctrl-C, SIGKILL a job killed outright."""
    home = tmp_path / "hf"
    (home / "hub").mkdir(parents=True)
    env = os.environ | {"HF_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    job = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, SERVE, str(tiny_models["causal"]), str(tmp_path / "server.log")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    pid = int(job.stdout.readline())
    assert _alive(pid)
    job.send_signal(how)
    job.wait(60)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), f"server {pid} outlived its job after signal {how!r}"


def test_cotrepro_generate_served_writes_the_in_process_output(tiny_models, server, tmp_path):
    from cotrepro.engine.cli import main
    from cotrepro.io import read_jsonl, write_jsonl

    prompts = tmp_path / "p.jsonl"
    write_jsonl(prompts, [{"id": r["id"], "prompt": f"Q: {r['question']}\nA:"} for r in RECORDS])
    common = ["generate", "--prompts", str(prompts), "--max-new-tokens", "12", "--stop", "Q:"]
    local = ["--model-dir", str(tiny_models["causal"]), "--architecture", "causal", "--device", "cpu"]
    assert main([*common, *local, "--out", str(tmp_path / "hf.jsonl")]) == 0
    remote = ["--backend", "served", "--base-url", server["base_url"], "--served-model", str(tiny_models["causal"])]
    assert main([*common, *remote, "--tokenizer", str(tiny_models["causal"]), "--out", str(tmp_path / "s.jsonl")]) == 0
    assert read_jsonl(tmp_path / "s.jsonl") == read_jsonl(tmp_path / "hf.jsonl")
