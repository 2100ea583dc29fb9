# Generation, the only expensive step: one job per model loads it once and generates every
# (task, method) unit of the run, each into its own files. Snakemake would delete a job's outputs
# before running it; marked update() (kept_for_reuse), they stay, and the job reuses every row whose
# key (input text and settings) is unchanged, so a change to one unit's settings regenerates only
# that unit's rows. If the job fails, Snakemake puts the earlier files back; the journals keep what
# it generated.


rule generate:
    input:
        manifest="resources/models/{model}.json",
        weights=model_weights,
        tasks=TASK_RECORDS,
        exemplars=sorted(set(generation_exemplar_files().values())),
        code=script_code("generate.py"),
    output:
        rows=kept_for_reuse(UNIT_GENERATIONS),
        meta=kept_for_reuse(UNIT_GENERATION_META),
    log:
        "logs/generate/{model}.log",
    wildcard_constraints:
        model=one_of(models_with_source("hub") + models_with_source("tiny") + models_with_source("served")),
    threads: config["generation"]["threads"]
    resources:
        gpu=generation_gpus,
    params:
        # The batch size is read from the config by the script, so changing it (speed, not
        # results) reruns nothing.
        units=lambda w: generation_units(config, w.model),
        exemplars=generation_exemplar_files(),
    script:
        "../scripts/generate.py"


# A published-completions source (source: published) generates nothing: its pinned logs are parsed
# into the same generation files, matched to the task's records by question text.
rule import_published:
    input:
        manifest="resources/models/{model}.json",
        tasks=TASK_RECORDS,
        logs=published_logs,
        code=code(
            "generation/imported.py",
            "generation/meta.py",
            "models/published.py",
            "data/tasks/__init__.py",
            "data/tasks/records.py",
            "data/sources.py",
            "prompts.py",
            "methods.py",
            "rows.py",
            "row_integrity.py",
        ),
    output:
        rows=UNIT_GENERATIONS,
        meta=UNIT_GENERATION_META,
    log:
        "logs/import_published/{model}.log",
    wildcard_constraints:
        model=one_of(models_with_source("published")),
    localrule: True
    params:
        spec=lambda w: SPECS[w.model],
    script:
        "../scripts/import_published.py"


# The project's check on its own generation (config key agreement): one model's prompts for one task
# through transformers and through the from-scratch Llama; the report shows how many rows agree.
if AGREEMENT:

    rule agreement:
        input:
            manifest="resources/models/{model}.json",
            task=f"results/tasks/{AGREEMENT['task']}.jsonl",
            exemplars=agreement_exemplar_files(),
            code=script_code("agreement.py"),
        output:
            summary="results/agreement/{model}.json",
            rows=directory("results/agreement/{model}"),
        log:
            "logs/agreement/{model}.log",
        threads: config["generation"]["threads"]
        params:
            task=AGREEMENT["task"],
            methods=AGREEMENT["methods"],
            limit=config["limit"],
            shots=config["shots"],
            settings={
                k: config["generation"][k]
                for k in ("device", "dtype", "batch_size", "stop", "max_new_tokens", "on_overflow")
            },
        script:
            "../scripts/agreement.py"
