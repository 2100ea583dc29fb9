# Datasets and few-shot exemplars: pinned downloads checked by sha256, then canonical records.


def remote_dataset_file(wildcards):
    spec = DATASETS[wildcards.dataset]
    return next(f for f in spec.remote if f.filename == wildcards.filename)


def dataset_inputs(wildcards):
    spec = TASKS[wildcards.task].dataset
    return [f"resources/datasets/{spec.key}/{f.filename}" for f in spec.remote] + [repo_file(REPO / p) for p in spec.local]


rule download_dataset:
    output:
        "resources/datasets/{dataset}/{filename}",
    params:
        # The URL is built in the script from sources.github_base_url, so switching to a mirror
        # serving the same bytes re-downloads nothing.
        file=remote_dataset_file,
    log:
        "logs/download_dataset/{dataset}/{filename}.log",
    localrule: True
    script:
        "../scripts/download_file.py"


def task_code(wildcards):
    # The task's own module and the shared record helpers decide the records; the registry in
    # data/tasks/__init__.py does not, so declaring a new task reruns nothing that exists.
    return code("data/tasks/prepare.py", "data/tasks/records.py", f"data/tasks/{TASKS[wildcards.task].module}")


rule prepare_task:
    input:
        data=dataset_inputs,
        # extract.py only checks that gold answers parse; it shapes no record, so it is not listed
        # (editing the extractor must not rerun generation through here).
        code=task_code,
    output:
        records="results/tasks/{task}.jsonl",
        provenance="results/tasks/{task}.provenance.json",
    params:
        settings=lambda wildcards: task_settings(config, wildcards.task),
    log:
        "logs/prepare_task/{task}.log",
    script:
        "../scripts/prepare_task.py"


def exemplar_source(wildcards):
    if wildcards.exset in REMOTE_SETS:
        return f"resources/exemplars/{wildcards.exset}/{REMOTE_SETS[wildcards.exset].filename}"
    return repo_file(project_set_path(REPO, wildcards.exset))


rule download_exemplars:
    output:
        "resources/exemplars/{exset}/{filename}",
    params:
        file=lambda w: REMOTE_SETS[w.exset],
    log:
        "logs/download_exemplars/{exset}/{filename}.log",
    localrule: True
    script:
        "../scripts/download_file.py"


rule exemplars:
    input:
        source=exemplar_source,
        code=code("data/exemplars.py"),
    output:
        "results/exemplars/{exset}.json",
    log:
        "logs/exemplars/{exset}.log",
    script:
        "../scripts/exemplars.py"
