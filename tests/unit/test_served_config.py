"""The config check of served models: the shipped vLLM and hosted-API configs validate, and each
mistake in a served spec is one line naming its key."""

from __future__ import annotations

import copy

import pytest
import yaml

from cotrepro.config import validate_config
from cotrepro.errors import ConfigError
from tests.conftest import REPO


def _config(*extra: str) -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for name in extra:
        for key, value in yaml.safe_load((REPO / name).read_text()).items():
            config[key] = config[key] | value if isinstance(value, dict) and key in config else value
    return config


@pytest.mark.parametrize("overlay", ["config/vllm.yaml", "config/hosted-api.example.yaml"])
def test_shipped_served_configs_validate(overlay):
    config = validate_config(_config(overlay), REPO)
    served = [m for m in config["models"] if config["model_specs"][m]["backend"] == "served"]
    assert served and all(config["model_specs"][m]["served_model"] for m in served)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"serve": None}, "exactly one of 'base_url'"),
        ({"served_model": None}, "needs 'served_model'"),
        ({"serve": "vllm serve {model_dir}"}, "tinyllama-1.1b-chat-vllm.serve' must use {port}"),
        ({"serve": "vllm serve {nope} --port {port}"}, "tinyllama-1.1b-chat-vllm.serve' has a placeholder"),
        ({"api_key_env": "MY KEY"}, "api_key_env"),
        ({"max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_served_spec_mistakes_name_the_key(change, names):
    config = _config("config/vllm.yaml")
    spec = config["model_specs"]["tinyllama-1.1b-chat-vllm"]
    for key, value in change.items():
        if value is None:
            spec.pop(key)
        else:
            spec[key] = value
    with pytest.raises(ConfigError, match=names.replace("{", r"\{").replace("(", r"\(")) as err:
        validate_config(copy.deepcopy(config), REPO)
    assert "\n" not in str(err.value)


def test_served_keys_on_another_backend_are_refused():
    config = _config()
    config["model_specs"]["phi-2"]["base_url"] = "http://127.0.0.1:8000/v1"
    with pytest.raises(ConfigError, match="model_specs.phi-2.base_url' applies to backend served only"):
        validate_config(config, REPO)
