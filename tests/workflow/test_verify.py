"""The verify job, run for real by Snakemake in a temporary directory on a small config: tiny-llama's
zero-shot CoT self-consistency paths on the arithmetic problems, scored by a tiny random ORM, a
tiny random PRM (Math-Shepherd's format) and the model's own P(True).

Checked: the verification files follow the contract (cotrepro.rows) and feed the verifier choosers
of selection.csv; a job killed mid-unit resumes from its journal without rescoring its rows;
changing a verifier plans verify but never generate, a new PRM aggregate rescoring from the stored
step scores without the model; editing a chooser plans no verify; a Hub verifier needing remote
code is refused with one line before any job.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest
from servers import HubServer, tiny_repo_files
from workflow_helpers import REPO, copy_workflow, planned_jobs, run_snakemake, snakemake_cmd, write_config

from cotrepro.engine.hf.prm_format import aggregate
from cotrepro.io import read_json, read_jsonl

UNIT = "tiny-llama/arith_demo/zero_shot_cot_sc"
VERIFIERS = {
    "tiny-orm": {"kind": "orm", "source": "tiny", "licence": "Apache-2.0"},
    "tiny-prm": {"kind": "prm", "source": "tiny", "format": "math-shepherd", "aggregate": "min"},
    "self": {"kind": "self"},
}
QUESTIONS, PATHS = 6, 3
TARGET = "results/selection.csv"


def small_config(path, **overrides):
    """The test's config: one tiny model, one self-consistency unit, three verifiers."""
    config = {
        "models": ["tiny-llama"],
        "methods": ["zero_shot_cot_sc"],
        "limit": QUESTIONS,
        "sampling": {"paths": PATHS, "temperature": 0.7, "top_k": 40, "seed": 0},
        "model_specs": {"tiny-llama": {"source": "tiny", "architecture": "causal"}},
        "verifiers": VERIFIERS,
    }
    return write_config(path, **(config | overrides))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    workflow = copy_workflow(root / "repo")
    config = small_config(root / "config.yaml")
    run_snakemake(workflow, root / "work", config, TARGET)
    return {"workflow": workflow, "workdir": root / "work", "config": config, "root": root}


def verification(work, slug):
    """(rows, meta) of one verifier's file for the unit."""
    base = work / "results/verifications" / slug / UNIT
    return read_jsonl(base.with_suffix(".jsonl")), read_json(base.with_suffix(".meta.json"))


def dry_run(run, config) -> dict[str, int]:
    proc = run_snakemake(run["workflow"], run["workdir"], config, TARGET, "--dry-run")
    return planned_jobs(proc.stdout + proc.stderr)


def test_verification_files_follow_the_contract_and_feed_the_choosers(run):
    work = run["workdir"]
    generations = read_jsonl(work / f"results/generations/{UNIT}.jsonl")
    for slug, spec in VERIFIERS.items():
        rows, meta = verification(work, slug)
        assert [(r["id"], r["key"]) for r in rows] == [(g["id"], g["key"]) for g in generations]
        assert all(len(r["scores"]) == PATHS and all(isinstance(s, float) for s in r["scores"]) for r in rows)
        assert all(r["tokens"] > 0 for r in rows)
        assert meta["verifier"] == slug and meta["kind"] == spec["kind"] and meta["parameters"] > 0
        assert meta["stats"] == meta["stats"] | {"rows": QUESTIONS, "scored_rows": QUESTIONS, "reused_rows": 0}
        assert meta["revision"].startswith("tiny-") and meta["versions"]["transformers"]
    rows, meta = verification(work, "tiny-prm")
    assert meta["format"] == "math-shepherd" and meta["aggregate"] == "min"
    for r in rows:  # one list of step probabilities a path, aggregated by their minimum
        assert [aggregate(steps, "min") for steps in r["step_scores"]] == r["scores"]
        assert all(0 < p < 1 for steps in r["step_scores"] for p in steps)
    rows, meta = verification(work, "self")
    assert meta["scored_by"] == "tiny-llama" and all(0 < s < 1 for r in rows for s in r["scores"])
    assert verification(work, "tiny-orm")[1]["licence"] == "Apache-2.0"
    table = pd.read_csv(work / TARGET)
    for strategy in ("best_of_n", "weighted_best_of_n"):
        assert set(table[table["strategy"] == strategy]["verifier"]) == set(VERIFIERS), strategy
    assert (table["flops_per_question"] > 0).all()


def test_a_killed_verify_job_resumes_from_its_journal(run, tmp_path):
    """What a kill mid-unit leaves (no finished file or metadata, a journal of the rows scored so far
    with a torn last line, no selection yet): the rerun scores only the rest, and the file equals an
    uninterrupted run's."""
    work = tmp_path / "work"
    shutil.copytree(run["workdir"], work, symlinks=True)
    base = work / "results/verifications/tiny-orm" / UNIT
    rows = base.with_suffix(".jsonl")
    expected = read_jsonl(rows)
    kept = 2
    journal = base.with_name(base.name + ".partial.jsonl")
    journal.write_text("".join(json.dumps(r) + "\n" for r in expected[:kept]) + '{"id": "torn')
    rows.unlink()
    base.with_suffix(".meta.json").unlink()
    (work / TARGET).unlink()
    proc = run_snakemake(run["workflow"], work, run["config"], TARGET)
    assert "rule verify" in proc.stdout + proc.stderr
    _, meta = verification(work, "tiny-orm")
    assert meta["stats"] | {"wall_seconds": 0} == meta["stats"] | {
        "rows": QUESTIONS,
        "resumed_rows": kept,
        "scored_rows": QUESTIONS - kept,
        "reused_rows": 0,
        "wall_seconds": 0,
    }
    assert read_jsonl(rows) == expected and not journal.exists()


def test_a_deleted_tiny_verifier_is_built_again_and_its_rows_reused(run, tmp_path):
    """Its damage marker makes Snakemake, which plans nothing for a missing intermediate, rebuild it;
    the rebuilt verifier is the same (seeded), so its job reuses every row."""
    work = tmp_path / "work"
    shutil.copytree(run["workdir"], work, symlinks=True)
    shutil.rmtree(work / "resources/verifiers/tiny/tiny-orm")
    before = verification(work, "tiny-orm")[0]
    proc = run_snakemake(run["workflow"], work, run["config"], TARGET)
    assert "tiny-orm" in proc.stderr and "building it again" in proc.stderr
    assert (work / "resources/verifiers/tiny/tiny-orm/model.safetensors").is_file()
    rows, meta = verification(work, "tiny-orm")
    assert rows == before and meta["stats"]["reused_rows"] == QUESTIONS and meta["stats"]["scored_rows"] == 0


def test_a_new_prm_aggregate_reverifies_without_generating_or_running_the_prm(run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(run["workdir"], work, symlinks=True)
    last_step = VERIFIERS | {"tiny-prm": VERIFIERS["tiny-prm"] | {"aggregate": "last"}}
    config = small_config(tmp_path / "last.yaml", verifiers=last_step)
    proc = run_snakemake(run["workflow"], work, config, TARGET, "--dry-run")
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs.get("verify") == 1 and "generate" not in jobs and "extract" not in jobs, jobs
    run_snakemake(run["workflow"], work, config, TARGET)
    rows, meta = verification(work, "tiny-prm")
    assert meta["aggregate"] == "last" and meta["stats"]["reused_rows"] == QUESTIONS
    assert meta["stats"]["scored_rows"] == 0
    log = (work / "logs/verify/tiny-prm.log").read_text().splitlines()
    last = [line for line in log if "models loaded" in line][-1]
    assert last.endswith("tiny-prm: 1 units; models loaded: none"), last
    assert all(r["scores"] == [steps[-1] for steps in r["step_scores"]] for r in rows)


def test_a_new_verifier_setting_plans_verify_and_never_generate(run, tmp_path):
    """A setting of one verifier reruns that verifier's job (and the selection), not generation; an
    added verifier plans its build and job only."""
    extra = {"tiny-orm-2": {"kind": "orm", "source": "tiny"}}
    jobs = dry_run(run, small_config(tmp_path / "more.yaml", verifiers=VERIFIERS | extra))
    assert jobs == {"build_tiny_verifier": 1, "verify": 1, "selection": 1}, jobs
    licence = VERIFIERS | {"self": {"kind": "self", "licence": "Llama 3.2 Community License"}}
    jobs = dry_run(run, small_config(tmp_path / "licence.yaml", verifiers=licence))
    assert jobs == {"verify": 1, "selection": 1}, jobs


def planned_after_editing(run, module: str) -> dict[str, int]:
    """The jobs a dry run plans once ``module`` (under src/cotrepro) is edited; the file is then put
    back as it was and nothing is planned any more (checked)."""
    path = run["workflow"] / "src/cotrepro" / module
    text, stat = path.read_text(), path.stat()
    path.write_text(text + "\n# an edit\n")
    try:
        jobs = dry_run(run, run["config"])
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert dry_run(run, run["config"]) == {}
    return jobs


def test_editing_a_chooser_plans_no_verify_and_no_generate(run):
    jobs = planned_after_editing(run, "scoring/choosers.py")
    assert jobs == {"selection": 1}, jobs


def test_editing_the_verifier_scoring_reverifies_without_generating(run):
    jobs = planned_after_editing(run, "engine/hf/verifier_scores.py")
    assert jobs == {"verify": len(VERIFIERS), "selection": 1}, jobs


def hub_env(tmp_path, hub) -> dict:
    """The environment of a run against the local Hub, with its own Hugging Face cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    return env | {"HF_ENDPOINT": hub.base_url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}


def test_a_hub_verifier_is_downloaded_checked_and_scores_and_a_new_revision_plans_no_generation(run, tmp_path):
    """The tiny ORM's files served by a local Hub: downloaded with their sha256 in a manifest, they
    score as the same weights built locally do; a new revision plans its download and verification
    again, never generation."""
    from cotrepro.models.tiny import build_tiny_verifier

    built = build_tiny_verifier("orm", tmp_path / "orm")
    files = {p.relative_to(built).as_posix(): p.read_bytes() for p in built.rglob("*") if p.is_file()}
    work = tmp_path / "work"
    shutil.copytree(run["workdir"], work, symlinks=True)
    first, second = "ef" * 20, "12" * 20
    spec = {"kind": "orm", "repo": "org/orm", "revision": first, "licence": "MIT"}
    config = small_config(tmp_path / "hub.yaml", verifiers=VERIFIERS | {"hub-orm": spec})
    with HubServer({"org/orm": {"commit": first, "files": files}}) as hub:
        proc = run_snakemake(run["workflow"], work, config, TARGET, env=hub_env(tmp_path, hub))
    jobs = "".join(proc.stdout + proc.stderr)
    assert "rule download_verifier" in jobs and "rule generate" not in jobs
    manifest = read_json(work / "resources/verifiers/hub-orm.json")
    assert manifest["resolved_revision"] == first and any(f["path"] == "model.safetensors" for f in manifest["files"])
    assert "licence" in manifest  # the card's (this Hub's cards give none; the config's wins)
    rows, meta = verification(work, "hub-orm")
    assert (meta["source"], meta["repo"], meta["revision"], meta["licence"]) == ("hub", "org/orm", first, "MIT")
    assert [r["scores"] for r in rows] == [r["scores"] for r in verification(work, "tiny-orm")[0]]
    table = pd.read_csv(work / TARGET)
    assert "hub-orm" in set(table[table["strategy"] == "best_of_n"]["verifier"])

    moved = small_config(tmp_path / "moved.yaml", verifiers=VERIFIERS | {"hub-orm": spec | {"revision": second}})
    with HubServer({"org/orm": {"commit": second, "files": files}}) as hub:
        plan = run_snakemake(run["workflow"], work, moved, TARGET, "--dry-run", env=hub_env(tmp_path, hub))
    jobs = planned_jobs(plan.stdout + plan.stderr)
    assert jobs == {"download_verifier": 1, "verify": 1, "selection": 1}, jobs


def test_a_hub_verifier_needing_remote_code_is_refused_before_any_job(tmp_path):
    files = tiny_repo_files()
    config_json = {"model_type": "custom", "architectures": ["CustomPRM"], "auto_map": {"AutoModel": "m.CustomPRM"}}
    files["config.json"] = json.dumps(config_json).encode()
    repos = {"prm-org/custom-prm": {"commit": "cd" * 20, "files": files}}
    spec = {"kind": "prm", "repo": "prm-org/custom-prm", "revision": "cd" * 20, "format": "math-shepherd"}
    config = small_config(tmp_path / "hub.yaml", verifiers={"custom-prm": spec})
    with HubServer(repos) as hub:
        proc = subprocess.run(
            snakemake_cmd(REPO, tmp_path / "work", config, "--dry-run"),
            capture_output=True,
            text=True,
            env=hub_env(tmp_path, hub),
        )
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "custom-prm" in line]
    refusal = "verifier custom-prm: config.json has auto_map (remote code); trust_remote_code stays off"
    assert lines == [f"invalid configuration: {refusal}"], proc.stderr[-2000:]
    assert "Job stats" not in proc.stdout + proc.stderr
    assert not (tmp_path / "hf/hub/models--prm-org--custom-prm/blobs").exists() or not any(
        p.stat().st_size > 1000 for p in (tmp_path / "hf/hub/models--prm-org--custom-prm/blobs").iterdir()
    )


def test_the_ready_verifiers_config_plans_its_generation_and_verify_jobs(tmp_path):
    """`snakemake -n` on config/config.yaml with config/verifiers.yaml over it passes the config check
    and plans two generations, the PRM's download and a verify job for the PRM and one for P(True).
    The gating of the Llama models is switched off in an overlay (what it checks needs the Hub and
    is tested in test_gated.py); offline, the PRM's remote-code check is left to its download job."""
    overlay = tmp_path / "ungated.yaml"
    ungated = {m: {"gated": False} for m in ("llama-3.2-1b-instruct-hf", "llama-3.2-3b-instruct-hf")}
    overlay.write_text(json.dumps({"model_specs": ungated}))
    files = [str(REPO / "config/config.yaml"), str(REPO / "config/verifiers.yaml"), str(overlay)]
    cmd = [*snakemake_cmd(REPO, tmp_path / "work", REPO / "config/config.yaml", "-n", "--quiet", "rules")]
    cmd += ["--configfile", *files]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs["generate"] == 2 and jobs["download_model"] == 2 and jobs["download_verifier"] == 1, jobs
    assert jobs["verify"] == 2 and jobs["selection"] == 1, jobs
