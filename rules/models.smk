# Model weights: downloaded from the Hugging Face Hub into HF_HOME (manifest with the resolved
# commit and each file's sha256), or, for the offline demo, built here with random weights; a
# published-completions source (a paper's released logs) has its pinned logs downloaded instead.

from cotrepro.models.weights_check import tiny_model_warnings

# A tiny model's folder deleted or edited after it was built: said here, once a run, since Snakemake
# plans nothing for it; every job that would load the model refuses to (cotrepro.models.weights_check).
if not workflow.remote_exec:
    for line in tiny_model_warnings(models_with_source("tiny"), Path("resources/models")):
        print(line, file=sys.stderr)


rule download_model:
    output:
        "resources/models/{model}.json",
    log:
        "logs/download_model/{model}.log",
    wildcard_constraints:
        model=one_of(models_with_source("hub")),
    # Compute nodes often have no internet: downloads run where Snakemake itself runs.
    localrule: True
    params:
        repo=lambda w: SPECS[w.model]["repo"],
        revision=lambda w: SPECS[w.model]["revision"],
    script:
        "../scripts/download_model.py"


rule build_tiny_model:
    input:
        code=code("models/tiny.py"),
    output:
        manifest="resources/models/{model}.json",
        weights=directory("resources/models/tiny/{model}"),
    log:
        "logs/build_tiny_model/{model}.log",
    wildcard_constraints:
        model=one_of(models_with_source("tiny")),
    # The run's own models first: their generation jobs are the long path; a model only the
    # agreement check uses can wait.
    priority: lambda w: 1 if w.model in MODELS else 0
    params:
        architecture=lambda w: SPECS[w.model]["architecture"],
        shape=lambda w: SPECS[w.model]["tiny_shape"],
        seed=0,
    script:
        "../scripts/build_tiny_model.py"


rule download_published_log:
    output:
        "resources/published/{model}/{filename}",
    log:
        "logs/download_published_log/{model}/{filename}.log",
    wildcard_constraints:
        model=one_of(models_with_source("published")),
    localrule: True
    params:
        file=lambda w: published_log_files()[w.filename],
    script:
        "../scripts/download_file.py"


rule published_manifest:
    input:
        logs=published_logs,
        code=code(
            "models/published.py",
            "data/tasks/__init__.py",
            "data/tasks/records.py",
            "data/sources.py",
            "prompts.py",
            "methods.py",
        ),
    output:
        "resources/models/{model}.json",
    log:
        "logs/published_manifest/{model}.log",
    wildcard_constraints:
        model=one_of(models_with_source("published")),
    localrule: True
    params:
        spec=lambda w: SPECS[w.model],
    script:
        "../scripts/published_manifest.py"


# A model that exists only behind a server (source served: a hosted API, or a server the user
# runs): its manifest names the served model; the server's own report is in each unit's metadata.
rule served_manifest:
    output:
        "resources/models/{model}.json",
    log:
        "logs/served_manifest/{model}.log",
    wildcard_constraints:
        model=one_of(models_with_source("served")),
    localrule: True
    params:
        served_model=lambda w: SPECS[w.model]["served_model"],
    script:
        "../scripts/served_manifest.py"
