"""Load and validate a workflow configuration against config/schema.yaml, with clear errors.

Validation fills the schema's defaults in place, then checks what a schema cannot: that every
selected model is defined, every task is registered and every exemplar set exists. The first
problem found becomes one ``ConfigError`` whose message names the key and the allowed values.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from cotrepro import methods
from cotrepro.data.exemplars import known_sets
from cotrepro.data.tasks import TASKS, task_params
from cotrepro.errors import ConfigError, allowed
from cotrepro.io import InputFileError, load_yaml, read_yaml
from cotrepro.plan import batch_invariance, task_settings
from cotrepro.served_spec import check_served_spec
from cotrepro.variants import (
    CHAT_FORMAT,
    PAPER_ORDER,
    PLAIN_FORMAT,
    format_variants,
    variant_settings,
)

SCHEMA_PATH = "config/schema.yaml"


def _with_defaults(validator_class):
    """A validator class that also writes each property's schema default into the instance."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    # Defaults are plain YAML data; a copy keeps one config's edits out of the schema.
    return yaml.safe_load(yaml.safe_dump(value))


_Validator = _with_defaults(jsonschema.Draft7Validator)


def load_schema(repo_root: Path) -> dict:
    """The configuration schema shipped with the repository, with the methods of the registry
    (:mod:`cotrepro.methods`) as the allowed values and the default of key ``methods``."""
    schema = yaml.safe_load((Path(repo_root) / SCHEMA_PATH).read_text(encoding="utf-8"))
    schema["definitions"]["method"]["enum"] = list(methods.all_keys())
    schema["properties"]["methods"]["default"] = list(methods.default_keys())
    return schema


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe_error(error: jsonschema.ValidationError) -> str:
    """One sentence for a schema violation: the config key, what is wrong, what is allowed."""
    key = _key(error.absolute_path)
    v, inst, schema = error.validator, error.instance, error.schema
    if v == "enum":
        return f"config key '{key}' = {inst!r} is not allowed; allowed values: {allowed(schema['enum'])}"
    if v == "additionalProperties" and isinstance(inst, dict):
        known = set(schema.get("properties", {}))
        extra = sorted(set(inst) - known)
        where = f"'{key}'" if error.absolute_path else "the top level"
        return (
            f"unknown config key '{extra[0]}' at {where}; allowed keys: {allowed(sorted(known))}"
            if known
            else f"config key '{key}': {error.message}"
        )
    if v == "required":
        missing = [r for r in schema["required"] if r not in inst]
        where = f" in '{key}'" if error.absolute_path else ""
        return f"missing required config key '{missing[0]}'{where}"
    if v == "type":
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return f"config key '{key}' = {inst!r} must be of type {' or '.join(types)}"
    if v == "pattern":
        return f"config key '{key}' = {inst!r} is malformed (must match {schema['pattern']})"
    if v in ("minimum", "exclusiveMinimum"):
        return f"config key '{key}' = {inst!r} is too small ({v} {schema[v]})"
    if v == "propertyNames":
        return f"config key '{key}': {error.message}"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict, repo_root: Path) -> dict:
    """Validate ``config`` in place (defaults filled) and return it; raise ConfigError on the first problem."""
    validator = _Validator(load_schema(repo_root))
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        raise ConfigError(describe_error(errors[0]))
    _check_references(config, Path(repo_root))
    _check_verifiers(config)
    return config


def _check_verifiers(config: dict) -> None:
    """Verifier specs name what their kind needs, and ``verify`` names defined verifiers."""
    specs = config["verifiers"]
    for slug, spec in specs.items():
        where = f"config key 'verifiers.{slug}'"
        if spec["kind"] == "self":
            extra = sorted(set(spec) & {"repo", "revision", "format"})
            if extra:
                raise ConfigError(f"{where}: kind self scores with the generating model; drop {extra[0]!r}")
            continue
        if spec["source"] == "hub" and not {"repo", "revision"} <= set(spec):
            raise ConfigError(
                f"{where} needs 'repo' and 'revision' (a branch, tag or 40-hex commit) because its source is hub"
            )
        if spec["kind"] == "prm" and "format" not in spec:
            raise ConfigError(f"{where} needs 'format' (math-shepherd or rlhflow) because its kind is prm")
        if spec["kind"] == "orm" and "format" in spec:
            raise ConfigError(f"{where}: 'format' is for kind prm only")
    used = config["verify"].get("verifiers", list(specs))
    no_weights = [m for m in config["models"] if config["model_specs"][m]["source"] in ("published", "served")]
    for slug in used:
        if slug in specs and specs[slug]["kind"] == "self" and no_weights:
            raise ConfigError(
                f"config key 'verifiers.{slug}': kind self loads the generating model, and model "
                f"{no_weights[0]} has no local weights (source {config['model_specs'][no_weights[0]]['source']}); "
                "use an orm or prm verifier, or leave it out of verify.verifiers"
            )
    for i, slug in enumerate(config["verify"].get("verifiers", [])):
        if slug not in specs:
            raise ConfigError(
                f"config key 'verify.verifiers[{i}]' = {slug!r} is not defined under verifiers; "
                f"allowed values: {allowed(sorted(specs))}"
            )


def _check_references(config: dict, repo_root: Path) -> None:
    specs = config["model_specs"]
    for i, slug in enumerate(config["models"]):
        if slug not in specs:
            raise ConfigError(
                f"config key 'models[{i}]' = {slug!r} is not defined under model_specs; "
                f"allowed values: {allowed(sorted(specs))}"
            )
        spec = specs[slug]
        if spec["source"] == "hub" and "repo" not in spec:
            raise ConfigError(
                f"config key 'model_specs.{slug}' needs 'repo' (a Hugging Face repository id) because its source is hub"
            )
        if spec["source"] not in ("published", "served") and "architecture" not in spec:
            raise ConfigError(
                f"config key 'model_specs.{slug}' needs 'architecture' (seq2seq or causal) because its source is "
                f"{spec['source']}"
            )

    for slug, spec in specs.items():
        check_served_spec(slug, spec)
        if spec["backend"] == "scratch" and spec.get("architecture") != "causal":
            raise ConfigError(
                f"config key 'model_specs.{slug}.backend' = 'scratch' runs decoder-only Llama models; "
                f"its architecture must be causal, not {spec.get('architecture')!r} (or use backend hf)"
            )
    sampled = [m for m in config["methods"] if m in methods.REGISTRY and methods.get(m).samples]
    scratch = [m for m in config["models"] if specs.get(m, {}).get("backend") == "scratch"]
    if sampled and scratch:
        raise ConfigError(
            f"config key 'methods' has {sampled[0]}, which samples reasoning paths, but model {scratch[0]} uses "
            "backend scratch, which decodes greedily only; use backend hf for it or leave the sampling methods out"
        )
    for i, task in enumerate(config["tasks"]):
        if task not in TASKS:
            raise ConfigError(
                f"config key 'tasks[{i}]' = {task!r} is not a known task; allowed values: {allowed(sorted(TASKS))}"
            )
    for task, overrides in config["task_params"].items():
        if task not in TASKS:
            raise ConfigError(
                f"config key 'task_params' names unknown task {task!r}; allowed values: {allowed(sorted(TASKS))}"
            )
        try:
            task_params(TASKS[task], overrides)
        except ValueError as err:
            raise ConfigError(f"config key 'task_params.{task}': {err}") from None
    # method_tasks may name methods and tasks a run leaves out (a command-line override of `methods`
    # or `tasks` keeps the file's narrowing), but not unknown ones: a typo would be silently ignored.
    for method, tasks in config["method_tasks"].items():
        if method not in methods.REGISTRY:
            raise ConfigError(
                f"config key 'method_tasks' names unknown method {method!r}; allowed values: "
                f"{allowed(methods.all_keys())}"
            )
        for task in tasks:
            if task not in TASKS:
                raise ConfigError(
                    f"config key 'method_tasks.{method}' names unknown task {task!r}; allowed values: "
                    f"{allowed(sorted(TASKS))}"
                )
    sets = known_sets(repo_root)
    for task, name in config["exemplars"].items():
        if task not in TASKS:
            raise ConfigError(
                f"config key 'exemplars' names unknown task {task!r}; allowed values: {allowed(sorted(TASKS))}"
            )
        if name not in sets:
            raise ConfigError(
                f"config key 'exemplars.{task}' = {name!r} is not a known exemplar set; allowed values: {allowed(sets)}"
            )
    _check_agreement(config)
    _check_variants(config)
    batch_invariance(config)  # raises on an explicit task or method the run does not have
    if not (repo_root / config["published"]).is_file():
        raise ConfigError(f"config key 'published' = {config['published']!r}: no such file in the repository")
    for slug in config["models"]:
        if specs[slug]["source"] == "published":
            _check_published(config, slug, specs[slug])


def _check_published(config: dict, slug: str, spec: dict) -> None:
    """A published-completions model: a pinned set of logs that holds every task and method asked for."""
    from cotrepro.models import published

    where = f"config key 'model_specs.{slug}'"
    pinned = (spec.get("repo"), spec["revision"])
    if pinned not in published.PUBLISHED_SETS:
        known = ", ".join(f"repo {r} with revision {c}" for r, c in sorted(published.PUBLISHED_SETS))
        raise ConfigError(f"{where}: no published completions are pinned for {pinned[0]}@{pinned[1]}; known: {known}")
    try:
        published.check_covered(config["tasks"], config["methods"])
    except ValueError as err:
        raise ConfigError(f"{where} (source published): {err}; choose those under 'tasks' and 'methods'") from None
    for task in published.TASKS_REQUIRING_KOJIMA_SOURCE:
        if task in config["tasks"] and task_settings(config, task).get("source") != "kojima":
            raise ConfigError(
                f"{where} (source published): its {task} completions answer Kojima et al.'s released questions; "
                f"set task_params: {{{task}: {{source: kojima}}}}"
            )


def _check_variants(config: dict) -> None:
    """The ablations name known tasks and models that generate. An ablation of a method or on a task
    the run leaves out is not run, as ``method_tasks`` of such a method is ignored: a command-line
    override of ``methods`` or ``tasks`` keeps the file's ablations for what it keeps."""
    # Like method_tasks, ablation_tasks may name tasks the run leaves out (a command-line override of
    # `tasks` keeps the file's ablations), but not unknown ones: a typo would be silently ignored.
    for i, task in enumerate(config["ablation_tasks"] or []):
        if task not in TASKS:
            raise ConfigError(
                f"config key 'ablation_tasks[{i}]' = {task!r} is not a known task; "
                f"allowed values: {allowed(sorted(TASKS))}"
            )
    slugs = [t["slug"] for t in config["triggers"]]
    texts = [t["text"] for t in config["triggers"]]
    for what, values in (("slug", slugs), ("text", texts)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ConfigError(
                f"config key 'triggers': the {what} {repeated[0]!r} appears twice; each trigger needs its own"
            )
    if CHAT_FORMAT in slugs:
        raise ConfigError(f"config key 'triggers': slug {CHAT_FORMAT!r} is the prompt-format variant's; choose another")
    if PAPER_ORDER not in config["exemplar_orders"]:
        raise ConfigError(
            "config key 'exemplar_orders' must include 'paper' "
            "(the papers' order, which the other orders are compared with)"
        )
    if PLAIN_FORMAT not in config["prompt_formats"]:
        raise ConfigError(
            "config key 'prompt_formats' must include 'plain' (the papers' format, which chat is compared with)"
        )
    variants = variant_settings(config)
    if not variants:
        return
    specs = config["model_specs"]
    for slug in config["models"]:
        if specs[slug]["source"] == "published":
            raise ConfigError(
                f"config key 'model_specs.{slug}' (source published) has no completions for the ablation variants "
                f"({next(iter(variants))}, ...); leave it out of 'models' or drop the ablations"
            )
        if format_variants(config) and specs[slug]["chat_template"]:
            raise ConfigError(
                f"config key 'model_specs.{slug}.chat_template' is true, so its plain units would be chat too; "
                "set it to false to compare the plain and chat formats (prompt_formats: [plain, chat])"
            )


def _check_agreement(config: dict) -> None:
    """The backend agreement check names a defined causal model, one of the configured tasks and,
    comparing a served model, the command that serves it."""
    check = config["agreement"]
    if check is None:
        return
    spec = config["model_specs"].get(check["model"])
    # A published or served model has no architecture: it is no candidate, not a KeyError.
    if spec is None or spec.get("architecture") != "causal":
        causal = [m for m, s in config["model_specs"].items() if s.get("architecture") == "causal"]
        raise ConfigError(
            f"config key 'agreement.model' = {check['model']!r} must be a causal model under model_specs; "
            f"allowed values: {allowed(sorted(causal)) or '(none is defined)'}; "
            "or agreement: null to turn the check off"
        )
    if check["task"] not in config["tasks"]:
        raise ConfigError(
            f"config key 'agreement.task' = {check['task']!r} is not one of the configured tasks; "
            f"allowed values: {allowed(config['tasks'])} (on the command line: --config "
            f"'agreement={{model: {check['model']}, task: {config['tasks'][0]}}}', or agreement=null to turn "
            "the check off)"
        )
    served = "served" in check["backends"]
    if served != ("serve" in check):
        raise ConfigError(
            "config key 'agreement.serve' is needed with backend served among agreement.backends (the command "
            "that serves the model's weights on {port}), and only then"
            if served
            else "config key 'agreement.serve' applies only with served among agreement.backends"
        )
    if served and "{port}" not in check["serve"]:
        raise ConfigError("config key 'agreement.serve' must use {port}: the check picks a free port and waits on it")


def _snakemake_typed(value: str) -> bool:
    """Whether Snakemake's ``--config`` parser already gave ``value`` a type (int, float, True or
    False): it tries those before YAML, and what it typed so is kept as it is."""
    for parse in (int, float):
        try:
            parse(value)
            return True
        except ValueError:
            pass
    return value in ("True", "False")


def _merge(config: dict, override: dict) -> None:
    """Merge ``override`` into ``config`` in place as Snakemake merges ``--config`` over a config
    file: a mapping into a mapping key by key, anything else replacing what was there."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = value


def apply_command_line(config: dict, entries) -> dict:
    """``config`` with the ``--config KEY=VALUE`` ``entries`` applied again, each VALUE parsed as YAML
    as in a config file, and return it.

    Snakemake reads a ``--config`` value with YAML's base loader, which leaves every scalar a string:
    ``sampling={paths: 5}`` would give the string ``'5'`` and ``agreement=null`` the string ``'null'``.
    Merging the YAML-typed value over the same place makes them what they say. Values Snakemake
    typed itself (a bare number, True, False) and empty ones (None already) are left as they are.
    """
    for entry in entries or ():
        key, sep, text = str(entry).partition("=")
        if not sep or not text or _snakemake_typed(text):
            continue
        try:
            value = load_yaml(text, f"--config {key}={text}")
        except InputFileError as err:
            raise ConfigError(str(err)) from None
        _merge(config, {key: value})
    return config


def check_config_files(paths) -> None:
    """Read each config file again as YAML that refuses a key given twice (Snakemake's loader keeps
    the last one silently); a problem is a ConfigError naming the file and the line."""
    for path in paths:
        try:
            read_yaml(Path(path))
        except InputFileError as err:
            raise ConfigError(str(err)) from None


def load_config(path: Path, repo_root: Path) -> dict:
    """Read a YAML config file (a key given twice refused) and validate it."""
    try:
        config = read_yaml(path) or {}
    except InputFileError as err:
        raise ConfigError(str(err)) from None
    return validate_config(config, repo_root)


def main(argv: list[str] | None = None) -> int:
    """``python -m cotrepro.config FILE...``: each config file read as the workflow reads it (YAML, a
    key given twice refused), a problem printed as one line naming the file and the line. For a file
    Snakemake itself refuses ("Config file is not valid JSON or YAML", before any workflow code runs,
    naming neither)."""
    import sys

    bad = 0
    for path in argv if argv is not None else sys.argv[1:]:
        try:
            read_yaml(Path(path))
        except (OSError, InputFileError) as err:
            print(err, file=sys.stderr)
            bad += 1
        else:
            print(f"{path}: valid YAML, no key given twice")
    return 2 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
