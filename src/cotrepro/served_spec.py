"""The served-model keys of a model spec (``backend: served``): what the config check requires of
them, which of them shape a unit's rows (and so its row keys), and the connection settings a
generation job uses (speed and reliability, not results)."""

from __future__ import annotations

from cotrepro.errors import ConfigError

SERVED_ONLY = ("base_url", "serve", "served_model", "api_key_env", "tokenizer", "context_length")
"""Keys that mean something only with ``backend: served`` (the others have defaults everywhere)."""


def check_served_spec(slug: str, spec: dict) -> None:
    """One ConfigError naming the key, for a served spec that cannot work or a served key elsewhere."""
    where = f"config key 'model_specs.{slug}"
    if spec["backend"] != "served":
        stray = [k for k in SERVED_ONLY if k in spec]
        if stray:
            raise ConfigError(
                f"{where}.{stray[0]}' applies to backend served only; this model's backend is {spec['backend']}"
            )
        if spec["source"] == "served":
            raise ConfigError(f"{where}.source' = 'served' needs backend: served (and base_url and served_model)")
        return
    if "served_model" not in spec:
        raise ConfigError(f"{where}' has backend served, so it needs 'served_model' (the model name the server knows)")
    if ("base_url" in spec) == ("serve" in spec):
        raise ConfigError(
            f"{where}' has backend served, so it needs exactly one of 'base_url' (a server you run) "
            "and 'serve' (the command the job starts the server with)"
        )
    if spec["source"] == "published":
        raise ConfigError(f"{where}.backend' = 'served' generates; a published source's completions are imported")
    if spec["source"] == "served" and "serve" in spec:
        raise ConfigError(
            f"{where}.serve' needs the model's weights: use source hub (or tiny) for a server the job starts, "
            "source served for one at base_url"
        )
    if spec.get("architecture") == "seq2seq":
        raise ConfigError(f"{where}.architecture' must be causal for backend served (the OpenAI APIs continue text)")
    if "serve" in spec:
        try:
            spec["serve"].format(port=0, model_dir="", served_model="")
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(
                f"{where}.serve' has a placeholder other than {{port}}, {{model_dir}} and {{served_model}} ({err})"
            ) from None
        if "{port}" not in spec["serve"]:
            raise ConfigError(f"{where}.serve' must use {{port}}: the job picks a free port and waits on it")


def served_identity(spec: dict) -> dict:
    """What of a served spec shapes the rows: the model name, the server (its URL, or its command,
    whose port changes every run and is left out), the tokenizer and the context."""
    return {
        "served_model": spec["served_model"],
        "server": spec.get("base_url") or spec["serve"],
        "tokenizer": spec.get("tokenizer"),
        "context_length": spec.get("context_length"),
    }


def served_job_settings(spec: dict) -> dict | None:
    """The generation job's served settings (None for other backends): connection, limits, the
    serve command and its timeout, tokenizer and context. The key's variable name only."""
    if spec["backend"] != "served":
        return None
    keys = ("base_url", "serve", "serve_timeout", "served_model", "api_key_env", "max_concurrency", "retries")
    return {k: spec.get(k) for k in keys} | {
        "timeout": spec["request_timeout"],
        "tokenizer": spec.get("tokenizer"),
        "context_length": spec.get("context_length"),
    }
