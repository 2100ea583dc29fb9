"""Configuration validation: defaults filled, and each mistake named with the allowed values."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cotrepro.config import ConfigError, validate_config
from cotrepro.plan import exemplar_set_for

REPO = Path(__file__).resolve().parents[2]


def demo_config():
    return yaml.safe_load((REPO / "config/demo.yaml").read_text())


def test_shipped_configs_validate_and_defaults_are_filled():
    full = validate_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), REPO)
    assert full["model_specs"]["phi-2"]["revision"] == "main"
    assert full["model_specs"]["phi-2"]["chat_template"] is False
    demo = validate_config(demo_config(), REPO)
    assert demo["generation"]["on_overflow"] == "generate"
    assert demo["generation"]["stop"] == ["Q:"]
    assert demo["sources"]["github_base_url"] == "https://raw.githubusercontent.com"
    assert exemplar_set_for(full, "gsm8k") == "wei2022-gsm8k"
    assert exemplar_set_for(demo, "arith_demo") == "cotrepro-arith"


def mutate(edit):
    cfg = demo_config()
    edit(cfg)
    return cfg


CASES = {
    "unknown method": (
        lambda c: c.update(methods=["zero_shot", "few_shot_cott"]),
        "config key 'methods[1]' = 'few_shot_cott' is not allowed; allowed values: "
        "zero_shot, zero_shot_cot, few_shot, few_shot_cot",
    ),
    "undefined model": (
        lambda c: c.update(models=["tiny-t5", "tiny-gpt"]),
        "config key 'models[1]' = 'tiny-gpt' is not defined under model_specs; "
        "allowed values: tiny-llama, tiny-llama3, tiny-t5",
    ),
    "unknown task": (
        lambda c: c.update(tasks=["gsm8kk"]),
        "config key 'tasks[0]' = 'gsm8kk' is not a known task; allowed values: addsub, aqua, arith_demo, "
        "coin_flip, csqa, date, gsm8k, last_letters, logic, math500, multiarith, shuffled_objects, singleeq, "
        "sports, strategyqa, svamp",
    ),
    "typo in a key": (lambda c: c.update(limt=5), "unknown config key 'limt' at the top level; allowed keys:"),
    "typo in a nested key": (
        lambda c: c["generation"].update(batchsize=4),
        "unknown config key 'batchsize' at 'generation'; allowed keys:",
    ),
    "malformed value": (lambda c: c.update(limit=0), "config key 'limit' = 0 is too small (minimum 1)"),
    "wrong type": (lambda c: c.update(shots="eight"), "config key 'shots' = 'eight' must be of type integer or null"),
    "missing key": (lambda c: c.pop("tasks"), "missing required config key 'tasks'"),
    "bad architecture": (
        lambda c: c["model_specs"]["tiny-t5"].update(architecture="encoder"),
        "config key 'model_specs.tiny-t5.architecture' = 'encoder' is not allowed; allowed values: seq2seq, causal",
    ),
    "hub model without repo": (
        lambda c: c["model_specs"]["tiny-t5"].update(source="hub"),
        "config key 'model_specs.tiny-t5' needs 'repo'",
    ),
    "unknown exemplar set": (
        lambda c: c.update(exemplars={"arith_demo": "nope"}),
        "config key 'exemplars.arith_demo' = 'nope' is not a known exemplar set; "
        "allowed values: cotrepro-aqua, cotrepro-arith, cotrepro-coin-flip, ",
    ),
    "unknown task setting": (
        lambda c: c.update(task_params={"coin_flip": {"flips": 2}}),
        "config key 'task_params.coin_flip': task coin_flip has no setting 'flips'; allowed: people, seed, size",
    ),
    "setting for a task without settings": (
        lambda c: c.update(task_params={"gsm8k": {"size": 5}}),
        "config key 'task_params.gsm8k': task gsm8k has no setting 'size'; allowed: none (the task has no settings)",
    ),
    "task setting out of range": (
        lambda c: c.update(task_params={"last_letters": {"words": -1}}),
        "config key 'task_params.last_letters.words' = -1 is too small (minimum 0)",
    ),
    "scratch backend for a seq2seq model": (
        lambda c: c["model_specs"]["tiny-t5"].update(backend="scratch"),
        "config key 'model_specs.tiny-t5.backend' = 'scratch' runs decoder-only Llama models; "
        "its architecture must be causal, not 'seq2seq' (or use backend hf)",
    ),
    "unknown backend": (
        lambda c: c["model_specs"]["tiny-llama"].update(backend="jax"),
        "config key 'model_specs.tiny-llama.backend' = 'jax' is not allowed; allowed values: hf, scratch",
    ),
    "agreement on a seq2seq model": (
        lambda c: c["agreement"].update(model="tiny-t5"),
        "config key 'agreement.model' = 'tiny-t5' must be a causal model under model_specs; "
        "allowed values: tiny-llama, tiny-llama3",
    ),
    "agreement on a task not run": (
        lambda c: c["agreement"].update(task="gsm8k"),
        "config key 'agreement.task' = 'gsm8k' is not one of the configured tasks; allowed values: arith_demo,",
    ),
    "batch invariance on a method the run does not have": (
        lambda c: (
            c.update(methods=["zero_shot", "few_shot"], method_tasks={})
            or c["batch_invariance"].update(method="few_shot_cot")
        ),
        "config key 'batch_invariance' asks for any task with method 'few_shot_cot', which this run does "
        "not generate; choose one of its units (arith_demo/zero_shot,",
    ),
    "batch invariance on a task the run does not have": (
        lambda c: c["batch_invariance"].update(task="gsm8k"),
        "config key 'batch_invariance' asks for task 'gsm8k' with method 'few_shot_cot', which this run does not",
    ),
    "batch invariance on a sampling method": (
        lambda c: c["batch_invariance"].update(method="few_shot_cot_sc"),
        "config key 'batch_invariance.method' = 'few_shot_cot_sc' samples reasoning paths; the check compares greedy",
    ),
    "bad device": (
        lambda c: c["generation"].update(device="tpu"),
        "config key 'generation.device' = 'tpu' is not allowed; allowed values: auto, cuda, cpu",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_names_key_and_allowed_values(case):
    edit, message = CASES[case]
    with pytest.raises(ConfigError) as err:
        validate_config(mutate(edit), REPO)
    assert str(err.value).startswith(message), str(err.value)


def test_validation_does_not_share_defaults_between_configs():
    a = validate_config(demo_config(), REPO)
    a["generation"]["stop"].append("###")
    b = validate_config(demo_config(), REPO)
    assert b["generation"]["stop"] == ["Q:"]


def test_snakemake_stops_before_any_job_with_one_message(tmp_path):
    """The workflow itself refuses a bad --config before scheduling anything."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            str(REPO / "config/demo.yaml"),
            "--cores",
            "1",
            "--directory",
            str(tmp_path),
            "--config",
            "methods=[zero_shot,few_shot_cott]",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert (
        "invalid configuration: config key 'methods[1]' = 'few_shot_cott' is not allowed; "
        "allowed values: zero_shot, zero_shot_cot, few_shot, few_shot_cot"
    ) in proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_method_tasks_must_name_known_methods_and_tasks():
    cfg = demo_config()
    cfg["method_tasks"] = {"few_shot_cot_sc": ["arith_demo", "gsm8kk"]}
    with pytest.raises(ConfigError, match="'method_tasks.few_shot_cot_sc' names unknown task 'gsm8kk'"):
        validate_config(cfg, REPO)
    cfg["method_tasks"] = {"self_consistency": ["arith_demo"]}
    with pytest.raises(ConfigError, match="names unknown method 'self_consistency'; allowed values: zero_shot"):
        validate_config(cfg, REPO)
    cfg = demo_config()
    cfg["sampling"] = {"paths": 0}
    with pytest.raises(ConfigError, match=r"'sampling.paths' = 0 is too small"):
        validate_config(cfg, REPO)


def test_batch_invariance_is_on_by_default_for_the_generating_models_and_off_when_nothing_fits():
    from cotrepro.plan import batch_invariance

    demo = validate_config(demo_config(), REPO)
    assert batch_invariance(demo) == {
        "task": "arith_demo",
        "method": "few_shot_cot",
        "questions": 10,
        "seed": 0,
        "models": ["tiny-t5", "tiny-llama"],
    }
    default = mutate(lambda c: c.pop("batch_invariance"))
    default["tasks"] = ["coin_flip", "arith_demo"]
    assert batch_invariance(validate_config(default, REPO)) | {"models": None} == {
        "task": "coin_flip",  # the first configured task
        "method": "few_shot_cot",
        "questions": 50,
        "seed": 0,
        "models": None,
    }
    # The default unit not in the run, or the check switched off: no check and no error.
    no_cot = mutate(lambda c: c.update(methods=["zero_shot"], method_tasks={}))
    no_cot.pop("batch_invariance")
    assert batch_invariance(validate_config(no_cot, REPO)) is None
    assert batch_invariance(validate_config(mutate(lambda c: c.update(batch_invariance=None)), REPO)) is None


@pytest.mark.parametrize(
    ("verifiers", "verify", "message"),
    [
        ({"v": {"kind": "prm", "repo": "a/b"}}, {}, r"'verifiers.v' needs 'repo' and 'revision' \(a branch, tag or 40"),
        ({"v": {"kind": "prm", "source": "tiny"}}, {}, r"'verifiers.v' needs 'format' \(math-shepherd or rlhflow\)"),
        ({"v": {"kind": "self", "format": "rlhflow"}}, {}, r"'verifiers.v': kind self .*drop 'format'"),
        (
            {"v": {"kind": "orm", "source": "tiny"}},
            {"verifiers": ["w"]},
            r"'verify.verifiers\[0\]' = 'w' is not defined",
        ),
        ({"v": {"kind": "prm", "source": "tiny", "format": "x"}}, {}, r"verifiers.v.format"),
    ],
)
def test_bad_verifier_config_names_the_key(verifiers, verify, message):
    cfg = demo_config()
    cfg["verifiers"], cfg["verify"] = verifiers, verify
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, REPO)


def test_verifier_defaults_are_filled():
    cfg = demo_config()
    cfg["verifiers"] = {"prm": {"kind": "prm", "source": "tiny", "format": "math-shepherd"}, "own": {"kind": "self"}}
    out = validate_config(cfg, REPO)
    assert out["verifiers"]["prm"]["aggregate"] == "min" and out["verify"] == {}
