# Batch-size invariance, measured (config key batch_invariance): per generating model, a seeded subset
# of one (task, method) unit's questions generated again at batch size 1 with the same model,
# settings, prompts and engine, each row compared with the batched run's; then one job counts the
# differing completions and the answers that flip under each extraction style. The two are apart so
# that an extractor edit recounts without regenerating.

if BATCH_INVARIANCE:
    BI_TASK, BI_METHOD = BATCH_INVARIANCE["task"], BATCH_INVARIANCE["method"]
    BI_BATCHED = f"results/generations/{{model}}/{BI_TASK}/{BI_METHOD}.jsonl"

    rule batch_invariance:
        input:
            manifest="resources/models/{model}.json",
            task=f"results/tasks/{BI_TASK}.jsonl",
            exemplars=[generation_exemplar_files()[BI_TASK]] if methods.get(BI_METHOD).few_shot else [],
            batched=BI_BATCHED,
            code=model_code("batch_invariance.py"),
        output:
            rows="results/batch_invariance/{model}.jsonl",
        log:
            "logs/batch_invariance/{model}.log",
        wildcard_constraints:
            model=one_of(BATCH_INVARIANCE["models"]),
        threads: config["generation"]["threads"]
        resources:
            gpu=generation_gpus,
        params:
            task=BI_TASK,
            method=BI_METHOD,
            questions=BATCH_INVARIANCE["questions"],
            seed=BATCH_INVARIANCE["seed"],
            # The batched unit's own settings, so that the batch size is all that differs.
            settings=lambda w: unit_settings(config, w.model, BI_METHOD),
        script:
            "../scripts/batch_invariance.py"

    rule batch_invariance_summary:
        input:
            rows=expand("results/batch_invariance/{model}.jsonl", model=BATCH_INVARIANCE["models"]),
            batched=expand(BI_BATCHED, model=BATCH_INVARIANCE["models"]),
            meta=expand(BI_BATCHED.removesuffix(".jsonl") + ".meta.json", model=BATCH_INVARIANCE["models"]),
            task=f"results/tasks/{BI_TASK}.jsonl",
            code=code("checks/batch_invariance_summary.py", "row_integrity.py", *SCORER),
        output:
            table=report("results/batch_invariance.csv", caption="../report/batch_invariance.rst", category="Tables"),
            details=expand("results/batch_invariance/{model}.json", model=BATCH_INVARIANCE["models"]),
        log:
            "logs/batch_invariance_summary.log",
        params:
            models=BATCH_INVARIANCE["models"],
            task=BI_TASK,
            method=BI_METHOD,
        script:
            "../scripts/batch_invariance_summary.py"
