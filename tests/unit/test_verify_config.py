"""The config checks of verifiers that the verify job relies on, made before any job runs."""

from pathlib import Path

import pytest
import yaml

from cotrepro.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[2]


def shipped(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


def test_kind_self_with_a_model_without_local_weights_is_refused():
    config = shipped("hosted-api.example.yaml") | {"verifiers": {"self": {"kind": "self"}}}
    with pytest.raises(ConfigError, match="kind self loads the generating model, and model .* has no local weights"):
        validate_config(config, REPO)


def test_the_demo_verifiers_validate_with_their_defaults():
    verifiers = validate_config(shipped("demo.yaml"), REPO)["verifiers"]
    assert {v: s["kind"] for v, s in verifiers.items()} == {"tiny-orm": "orm", "tiny-prm": "prm", "self": "self"}
    assert verifiers["tiny-prm"] | {"format": "math-shepherd", "aggregate": "min"} == verifiers["tiny-prm"]
