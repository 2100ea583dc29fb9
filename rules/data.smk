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
        # extract.py only checks that gold answers parse; it shapes no record, so it is not listed
        # (editing the extractor must not rerun generation through here).
        code=task_code,
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
        code=code("data/exemplars.py", "data/exemplar_parsers.py"),
    output:
        "results/exemplars/{exset}.json",
    log:
        "logs/exemplars/{exset}.log",
    script:
        "../scripts/exemplars.py"
