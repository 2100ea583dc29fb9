"""The run plan: which (task, method) units a validated config runs, and the settings each is
generated with. The rules, the validator and the generation job read it here, so that a unit's
settings (a variant's included) are decided in one place.
"""

from __future__ import annotations

from cotrepro import methods
from cotrepro.data.tasks import TASKS, task_params
from cotrepro.errors import ConfigError, allowed
from cotrepro.served_spec import served_identity
from cotrepro.variants import prompt_settings, variant_settings


def run_units(config: dict) -> list[tuple[str, str]]:
    """The (task, method) units a validated config runs: every task with every method, unless
    ``method_tasks`` narrows a method to some tasks; then the ablation variants
    (:mod:`cotrepro.variants`) on ``ablation_tasks`` where their method runs."""
    narrowed = config["method_tasks"]
    units = [(t, m) for t in config["tasks"] for m in config["methods"] if t in narrowed.get(m, config["tasks"])]
    ablated = config["ablation_tasks"] or config["tasks"]
    base = set(units)
    units += [
        (t, key)
        for t in config["tasks"]
        for key in variant_settings(config)
        if t in ablated and (t, methods.get(key).base) in base
    ]
    return units


def task_settings(config: dict, task: str) -> dict:
    """The settings a task is prepared with under ``config`` (generator size, difficulty, seed)."""
    return task_params(TASKS[task], config["task_params"].get(task))


def exemplar_set_for(config: dict, task: str) -> str:
    """The exemplar set a task uses under ``config``: its override, else the task's default."""
    return config["exemplars"].get(task, TASKS[task].exemplars)


BATCH_INVARIANCE_METHOD = "few_shot_cot"
"""The method the batch-invariance check measures when config key batch_invariance.method is null."""


def batch_invariance(config: dict) -> dict | None:
    """The batch-invariance check a validated config asks for: its task, method, questions, seed and
    the models it runs on (those that generate: source hub or tiny); None when it is off (config key
    null, no generating model, or the default method not in the run). An explicit task or method the
    run does not have is a ConfigError."""
    check = config["batch_invariance"]
    if check is None:
        return None
    method = check["method"] or BATCH_INVARIANCE_METHOD
    if check["method"] is not None:
        if method not in methods.REGISTRY:
            raise ConfigError(
                f"config key 'batch_invariance.method' = {method!r} is not allowed; allowed values: "
                f"{allowed(methods.all_keys())}"
            )
        if methods.get(method).samples:
            raise ConfigError(
                f"config key 'batch_invariance.method' = {method!r} samples reasoning paths; the check compares "
                "greedy completions, so choose a greedy method (e.g. few_shot_cot) or set batch_invariance: null"
            )
    units = run_units(config)
    tasks = [t for t, m in units if m == method]
    task = check["task"] or (tasks[0] if tasks else None)
    if (task, method) not in units:
        if check["task"] is None and check["method"] is None:
            return None  # the default unit is not in this run: nothing to measure, nothing asked for
        asked = f"task {task!r}" if task else "any task"
        raise ConfigError(
            f"config key 'batch_invariance' asks for {asked} with method {method!r}, which this run does not "
            f"generate; choose one of its units ({', '.join(f'{t}/{m}' for t, m in units)}) or set it to null"
        )
    specs = config["model_specs"]
    # A served model's rows come from its server, which the check cannot rerun at batch size 1.
    models = [m for m in config["models"] if specs[m]["source"] in ("hub", "tiny") and specs[m]["backend"] != "served"]
    if not models:
        return None
    return {"task": task, "method": method, "questions": check["questions"], "seed": check["seed"], "models": models}


def unit_settings(config: dict, model: str, method: str) -> dict:
    """Everything that shapes one (task, method) unit's generated text; a change here reruns the
    model's generation job, which regenerates the rows whose settings changed (batch size does not)."""
    spec, gen = config["model_specs"][model], config["generation"]
    variant = variant_settings(config).get(method)
    prompt = prompt_settings(variant)
    chat = prompt.pop("chat")
    return (
        {
            "backend": spec["backend"],
            "architecture": spec.get("architecture"),
            "chat_template": spec["chat_template"] or chat,
            "max_context": spec.get("max_context"),
            "max_new_tokens": gen["max_new_tokens"],
            "dtype": gen["dtype"],
            "device": gen["device"],
            "on_overflow": gen["on_overflow"],
            "stop": gen["stop"],
            "limit": config["limit"],
            "shots": config["shots"] if methods.get(method).few_shot else 0,
            "method": methods.get(method).shaping(),
            # Only a sampling method's rows depend on the sampling settings.
            "sampling": config["sampling"] if methods.get(method).samples else None,
            "prompt": prompt,
        }
        | ({"variant": variant} if variant else {})
        | ({"served": served_identity(spec)} if spec["backend"] == "served" else {})
    )


def generation_units(config: dict, model: str) -> dict[str, dict]:
    """The settings of every unit of a model's generation job, keyed "task/method"."""
    return {f"{t}/{m}": unit_settings(config, model, m) for t, m in run_units(config)}


def verified_units(config: dict) -> dict[str, list[tuple[str, str]]]:
    """Verifier slug -> the (task, method) units it scores: ``verify.verifiers`` (default every
    configured verifier) on the run's units whose method is in ``verify.methods`` (default the
    self-consistency methods)."""
    verify = config.get("verify") or {}
    slugs = verify.get("verifiers", list(config.get("verifiers") or {}))
    wanted = set(verify.get("methods", methods.sampling_keys()))
    units = [(t, m) for t, m in run_units(config) if m in wanted]
    return {slug: units for slug in slugs}


def verification_files(config: dict, model: str, task: str, method: str) -> list[str]:
    """The verification files of one (model, task, method) unit, one per verifier that scores it (the
    contract ``results/verifications/{verifier}/{model}/{task}/{method}.jsonl``): what the choosers'
    selection rule takes as its ``verifications`` input."""
    return [
        f"results/verifications/{slug}/{model}/{task}/{method}.jsonl"
        for slug, units in verified_units(config).items()
        if (task, method) in units
    ]
