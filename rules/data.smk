# Datasets and few-shot exemplars: pinned downloads checked by sha256, then canonical records.


rule download_dataset:
    output:
        "resources/datasets/{dataset}/{filename}",
    log:
        "logs/download_dataset/{dataset}/{filename}.log",
    localrule: True
    params:
        # The URL is built in the script from sources.github_base_url, so switching to a mirror
        # serving the same bytes re-downloads nothing.
        file=remote_dataset_file,
    script:
        "../scripts/download_file.py"


rule prepare_task:
    input:
        data=dataset_inputs,
        code=task_code,
        # answers.py only checks that gold answers parse; it shapes no record, so its edits must not
        # rerun this (and generation after it): ancient, declared for what it is.
        checks=ancient(code("answers.py")),
    output:
        records="results/tasks/{task}.jsonl",
        provenance="results/tasks/{task}.provenance.json",
    log:
        "logs/prepare_task/{task}.log",
    params:
        settings=lambda wildcards: task_settings(config, wildcards.task),
    script:
        "../scripts/prepare_task.py"


rule download_exemplars:
    output:
        "resources/exemplars/{exset}/{filename}",
    log:
        "logs/download_exemplars/{exset}/{filename}.log",
    localrule: True
    params:
        file=lambda w: REMOTE_SETS[w.exset].file,
    script:
        "../scripts/download_file.py"


rule exemplars:
    input:
        source=exemplar_source,
        code=code("data/exemplars.py", "data/exemplar_parsers.py", "data/sources.py"),
    output:
        "results/exemplars/{exset}.json",
    log:
        "logs/exemplars/{exset}.log",
    script:
        "../scripts/exemplars.py"
