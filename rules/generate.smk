# Generation, the only expensive step: one job per (model, task, method).


def generation_exemplars(wildcards):
    if not methods.get(wildcards.method).few_shot:
        return []  # zero-shot prompts use no exemplars, so changing them must not rerun these jobs
    return [f"results/exemplars/{exemplar_set_for(config, wildcards.task)}.json"]


def generation_params(wildcards):
    """Everything that shapes the generated text; a change here reruns generation (batch size does not)."""
    spec, gen = SPECS[wildcards.model], config["generation"]
    return {
        "architecture": spec["architecture"],
        "chat_template": spec["chat_template"],
        "max_context": spec.get("max_context"),
        "max_new_tokens": gen["max_new_tokens"],
        "dtype": gen["dtype"],
        "device": gen["device"],
        "on_overflow": gen["on_overflow"],
        "stop": gen["stop"],
        "limit": config["limit"],
        "shots": config["shots"] if methods.get(wildcards.method).few_shot else 0,
        "method": methods.get(wildcards.method).shaping(),
    }


rule generate:
    input:
        manifest="resources/models/{model}.json",
        task="results/tasks/{task}.jsonl",
        exemplars=generation_exemplars,
        code=code(*OUTPUT_SHAPING),
    output:
        rows="results/generations/{model}/{task}/{method}.jsonl",
        meta="results/generations/{model}/{task}/{method}.meta.json",
    params:
        # The batch size is read from the config by the script, so changing it (speed, not
        # results) reruns nothing.
        settings=generation_params,
    resources:
        gpu=generation_gpus,
    threads: config["generation"]["threads"]
    log:
        "logs/generate/{model}/{task}/{method}.log",
    script:
        "../scripts/generate.py"
