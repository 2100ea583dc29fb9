# Generation, the only expensive step: one job per (model, task, method).


rule generate:
    input:
        manifest="resources/models/{model}.json",
        task="results/tasks/{task}.jsonl",
        exemplars=generation_exemplars,
        code=code(*OUTPUT_SHAPING),
    output:
        rows="results/generations/{model}/{task}/{method}.jsonl",
        meta="results/generations/{model}/{task}/{method}.meta.json",
    log:
        "logs/generate/{model}/{task}/{method}.log",
    threads: config["generation"]["threads"]
    resources:
        gpu=generation_gpus,
    params:
        # The batch size is read from the config by the script, so changing it (speed, not
        # results) reruns nothing.
        settings=generation_params,
    script:
        "../scripts/generate.py"
