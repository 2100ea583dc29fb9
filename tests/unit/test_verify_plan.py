"""Which verifiers score which units, and the verification files a unit's selection reads."""

from pathlib import Path

import yaml

from cotrepro.config import validate_config
from cotrepro.plan import verification_files, verified_units

REPO = Path(__file__).resolve().parents[2]


def _config(**extra):
    cfg = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    cfg["methods"] = ["zero_shot_cot", "few_shot_cot_sc"]
    cfg["verifiers"] = {
        "prm": {"kind": "prm", "source": "tiny", "format": "math-shepherd"},
        "own": {"kind": "self"},
    }
    cfg.update(extra)
    return validate_config(cfg, REPO)


def test_every_verifier_scores_every_self_consistency_unit_by_default():
    cfg = _config()
    units = verified_units(cfg)
    assert set(units) == {"prm", "own"}
    assert {m for u in units.values() for _, m in u} == {"few_shot_cot_sc"}
    task = cfg["tasks"][0]
    assert verification_files(cfg, "m", task, "few_shot_cot_sc") == [
        f"results/verifications/prm/m/{task}/few_shot_cot_sc.jsonl",
        f"results/verifications/own/m/{task}/few_shot_cot_sc.jsonl",
    ]
    assert verification_files(cfg, "m", task, "zero_shot_cot") == []


def test_verify_narrows_the_verifiers_and_widens_the_methods():
    cfg = _config(verify={"verifiers": ["own"], "methods": ["zero_shot_cot"]})
    task = cfg["tasks"][0]
    assert verification_files(cfg, "m", task, "zero_shot_cot") == [
        f"results/verifications/own/m/{task}/zero_shot_cot.jsonl"
    ]
    assert verification_files(cfg, "m", task, "few_shot_cot_sc") == []
