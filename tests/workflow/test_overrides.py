"""``--config`` overrides mean what they would in a config file: nested and null values are parsed
as YAML (Snakemake leaves them strings), and the demo's checks follow an overridden ``tasks`` or
say, in one line, how to turn them off. Real ``snakemake -n`` in a temporary directory."""

import subprocess
import sys

import pytest
from workflow_helpers import REPO, planned_jobs

from cotrepro.config import apply_command_line
from cotrepro.errors import ConfigError

DEMO = REPO / "config/demo.yaml"


def dry_run(tmp_path, *overrides: str, configfile=DEMO) -> subprocess.CompletedProcess:
    """``snakemake -n`` of ``configfile`` with ``--config overrides`` in an empty directory."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    cmd += ["--configfile", str(configfile), "--cores", "1", "-n", "--config", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def one_line_error(proc) -> str:
    """The single ``invalid configuration`` line of a refused run (no traceback)."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("invalid configuration")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def test_nested_values_are_typed_as_yaml(tmp_path):
    assert dry_run(tmp_path, "sampling={paths: 5}").returncode == 0
    # 0 is refused as a number too small, not as a string: the override reached validation typed.
    line = one_line_error(dry_run(tmp_path, "sampling={paths: 0}"))
    assert line == "invalid configuration: config key 'sampling.paths' = 0 is too small (minimum 1)"


def test_overridden_tasks_name_the_way_out_and_null_turns_the_check_off(tmp_path):
    line = one_line_error(dry_run(tmp_path, "tasks=[coin_flip]"))
    assert "config key 'agreement.task' = 'arith_demo' is not one of the configured tasks" in line
    assert "--config 'agreement={model: tiny-llama3, task: coin_flip}', or agreement=null" in line
    plan = dry_run(tmp_path, "tasks=[coin_flip]", "agreement=null")
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = planned_jobs(plan.stdout + plan.stderr)
    assert "agreement" not in jobs and jobs["batch_invariance"] == 2


def test_checks_follow_an_overridden_task(tmp_path):
    plan = dry_run(tmp_path, "tasks=[coin_flip]", "agreement={model: tiny-llama3, task: coin_flip}")
    assert plan.returncode == 0, plan.stderr[-3000:]
    out = plan.stdout + plan.stderr
    assert planned_jobs(out)["agreement"] == 1
    assert "input: resources/models/tiny-llama3.json, results/tasks/coin_flip.jsonl" in out
    # Batch invariance takes the run's first task when none is named.
    assert "results/generations/tiny-llama/coin_flip/few_shot_cot.jsonl, /" in out
    assert "arith_demo" not in out


def test_agreement_on_a_model_without_architecture_is_one_line(tmp_path):
    line = one_line_error(
        dry_run(tmp_path, "agreement={model: nope, task: gsm8k}", configfile=REPO / "config/calibrate.yaml")
    )
    assert "config key 'agreement.model' = 'nope' must be a causal model under model_specs" in line
    assert line.endswith("or agreement: null to turn the check off")


def test_a_value_that_is_not_yaml_is_one_line(tmp_path):
    line = one_line_error(dry_run(tmp_path, "sampling={paths: [5"))
    assert line.startswith("invalid configuration: --config sampling={paths: [5, line 1: not valid YAML")


def test_overrides_merge_into_the_file_as_snakemake_does():
    # What Snakemake made of the file and the command line: a nested mapping merged, scalars strings.
    config = {"sampling": {"paths": "5", "temperature": 0.7}, "agreement": "null", "limit": 3, "rev": "abc1"}
    entries = ["sampling={paths: 5}", "agreement=null", "limit=3", "rev=abc1", "demo=true", "empty=", "shots=null"]
    assert apply_command_line(config, entries) == {
        "sampling": {"paths": 5, "temperature": 0.7},  # the file's other keys are kept
        "agreement": None,
        "limit": 3,
        "rev": "abc1",
        "demo": True,
        "shots": None,
    }
    with pytest.raises(ConfigError, match=r"--config a=\{b: 1, b: 2\}, line 1: not valid YAML \(key 'b' appears"):
        apply_command_line({}, ["a={b: 1, b: 2}"])


def test_config_file_giving_a_key_twice_is_one_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(DEMO.read_text() + "\nlimit: 5\n")
    line = one_line_error(dry_run(tmp_path / "w", "limit=3", configfile=path))
    assert line == f"invalid configuration: {path}, line {len(DEMO.read_text().splitlines()) + 2}: not valid YAML " + (
        "(key 'limit' appears twice in one mapping)"
    )
