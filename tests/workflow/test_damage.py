"""Damage to a finished run never reaches the scores (issue 24, cases 1 and 2, on the real workflow).

A duplicated row, dropped rows, an edited completion and a torn line, one in each of four
generations files, stop the next run at extraction with one line a file (naming it, the ids and
the remedy) and nothing rescored; the remedy regenerates exactly the damaged rows and the accuracy
table is the undamaged run's. A bit-flipped weights file and a deleted weights folder of a tiny
model are named on the next run, which rebuilds the model, identical, so no row regenerates.
"""

from __future__ import annotations

import json
import shutil

import pytest
from workflow_helpers import REPO, planned_jobs, run_snakemake, write_config

from cotrepro.io import read_json, read_jsonl, write_jsonl

GEN = "results/generations/{model}/arith_demo/{method}.jsonl"
DAMAGED = {
    ("tiny-llama", "zero_shot"): "duplicate",
    ("tiny-llama", "few_shot"): "drop",
    ("tiny-t5", "zero_shot"): "edit",
    ("tiny-t5", "few_shot"): "tear",
}
REGENERATED = {"duplicate": 0, "drop": 3, "edit": 1, "tear": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    workdir = root / "work"
    config = write_config(
        root / "config.yaml",
        models=["tiny-t5", "tiny-llama"],
        methods=["zero_shot", "few_shot"],
        limit=8,
        model_specs={
            "tiny-llama": {"source": "tiny", "architecture": "causal"},
            "tiny-t5": {"source": "tiny", "architecture": "seq2seq"},
        },
        agreement=None,
        batch_invariance=None,
    )
    run_snakemake(REPO, workdir, config)
    return {"workdir": workdir, "config": config, "accuracy": (workdir / "results/accuracy.csv").read_text()}


def damage(path, how):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if how == "duplicate":
        lines.append(lines[2])
    elif how == "drop":
        lines = lines[:-3]
    elif how == "edit":
        row = json.loads(lines[1])
        row["completion"] = "The answer is 7."
        lines[1] = json.dumps(row) + "\n"
    elif how == "tear":
        lines[-1] = lines[-1][: len(lines[-1]) // 2]
    path.write_text("".join(lines), encoding="utf-8")


def test_damaged_rows_stop_scoring_and_their_remedy_regenerates_only_them(run):
    workdir, config = run["workdir"], run["config"]
    paths = {unit: GEN.format(model=unit[0], method=unit[1]) for unit in DAMAGED}
    before = {p: read_jsonl(workdir / p) for p in paths.values()}
    for unit, how in DAMAGED.items():
        damage(workdir / paths[unit], how)

    proc = run_snakemake(REPO, workdir, config, check=False)
    assert proc.returncode != 0
    named = [line for line in proc.stderr.splitlines() if "nothing was scored from it" in line]
    for path in paths.values():
        (line,) = [x for x in named if x.startswith(path)]  # one line for each damaged file
        assert f"--forcerun {path}" in line
    assert (workdir / "results/accuracy.csv").read_text() == run["accuracy"]

    run_snakemake(REPO, workdir, config, "--forcerun", *paths.values())
    assert (workdir / "results/accuracy.csv").read_text() == run["accuracy"]
    for unit, how in DAMAGED.items():
        path = paths[unit]
        meta = read_json(workdir / path.replace(".jsonl", ".meta.json"))
        assert meta["stats"]["generated_rows"] == REGENERATED[how], (path, how)
        assert [r["completion"] for r in read_jsonl(workdir / path)] == [r["completion"] for r in before[path]]


def test_damaged_weights_are_named_and_rebuilt_by_the_next_run(run):
    workdir, config = run["workdir"], run["config"]
    weights = workdir / "resources/models/tiny/tiny-llama/model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    shutil.rmtree(workdir / "resources/models/tiny/tiny-t5")

    proc = run_snakemake(REPO, workdir, config, "-n")
    assert "model tiny-llama: model.safetensors in " in proc.stderr
    assert "model tiny-t5: its files' folder " in proc.stderr
    assert proc.stderr.count("; building it again") == 2
    assert planned_jobs(proc.stdout + proc.stderr)["build_tiny_model"] == 2  # Snakemake alone plans nothing

    run_snakemake(REPO, workdir, config)  # the plain next run: no --forcerun needed
    assert (workdir / "results/accuracy.csv").read_text() == run["accuracy"]
    for model in ("tiny-llama", "tiny-t5"):
        for method in ("zero_shot", "few_shot"):
            meta = read_json(workdir / GEN.format(model=model, method=method).replace(".jsonl", ".meta.json"))
            assert meta["stats"]["generated_rows"] == 0  # the rebuilt model is the same: every row reused
    proc = run_snakemake(REPO, workdir, config, "-n")
    assert "building it again" not in proc.stderr and "Nothing to be done" in proc.stdout + proc.stderr


def test_a_job_refuses_damaged_weights_before_generating(run):
    workdir, config = run["workdir"], run["config"]
    weights = workdir / "resources/models/tiny/tiny-llama/model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-100])
    path = workdir / GEN.format(model="tiny-llama", method="zero_shot")
    rows = read_jsonl(path)
    write_jsonl(path, rows[:-1])  # a row to regenerate: the job must not make it from these weights
    # Only generation allowed, so the run cannot rebuild the model first: the job itself must refuse.
    forced = ["--forcerun", str(path.relative_to(workdir))]
    proc = run_snakemake(REPO, workdir, config, *forced, "--allowed-rules", "generate", check=False)
    assert proc.returncode != 0
    assert "model tiny-llama: model.safetensors in" in proc.stderr
    assert "nothing was generated" in proc.stderr
    assert len(read_jsonl(path)) == len(rows) - 1

    # The plain next run rebuilds the model, then generates the missing row from the good weights.
    run_snakemake(REPO, workdir, config)
    assert weights.read_bytes() == good
    # The regenerated row's timing (and so its content hash) differs; its text and key do not.
    assert [(r["key"], r["completion"]) for r in read_jsonl(path)] == [(r["key"], r["completion"]) for r in rows]
    assert (workdir / "results/accuracy.csv").read_text() == run["accuracy"]


def test_the_disagreement_table_refuses_a_damaged_generations_file(run):
    workdir, config = run["workdir"], run["config"]
    path = GEN.format(model="tiny-t5", method="zero_shot")
    original = (workdir / path).read_bytes()
    damage(workdir / path, "edit")
    # Only that job allowed (extraction would stop first otherwise): its own check must refuse.
    only = ["--forcerun", "disagreements", "--allowed-rules", "disagreements"]
    proc = run_snakemake(REPO, workdir, config, *only, check=False)
    (workdir / path).write_bytes(original)
    assert proc.returncode != 0
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith(path)]
    assert "1 row(s) do not match their content hash (edited?): arith_demo-0001" in line
    assert f"--forcerun {path}" in line


def test_the_batch_invariance_check_refuses_a_damaged_generations_file(run):
    workdir, config = run["workdir"], run["config"]
    path = GEN.format(model="tiny-llama", method="few_shot")
    original = (workdir / path).read_bytes()
    damage(workdir / path, "edit")
    # The check turned on from the command line, and only its jobs allowed: its own read must refuse.
    # (The target first: --allowed-rules and --config take every argument after them.)
    check = ["results/batch_invariance/tiny-llama.jsonl", "--allowed-rules", "batch_invariance"]
    check += ["--config", "batch_invariance={questions: 3, method: few_shot}"]
    proc = run_snakemake(REPO, workdir, config, *check, check=False)
    (workdir / path).write_bytes(original)
    assert proc.returncode != 0
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith(path)]
    assert "1 row(s) do not match their content hash (edited?): arith_demo-0001" in line
    assert f"--forcerun {path}" in line
    assert not (workdir / "results/batch_invariance/tiny-llama.jsonl").exists()
    # Undamaged, the same check runs and compares the batched rows.
    run_snakemake(REPO, workdir, config, *check)
    assert len(read_jsonl(workdir / "results/batch_invariance/tiny-llama.jsonl")) == 3
