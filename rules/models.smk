# Model weights: downloaded from the Hugging Face Hub into HF_HOME (manifest with the resolved
# commit and each file's sha256), or, for the offline demo, built here with random weights.


rule download_model:
    output:
        "resources/models/{model}.json",
    wildcard_constraints:
        model=one_of(models_with_source("hub")),
    params:
        repo=lambda w: SPECS[w.model]["repo"],
        revision=lambda w: SPECS[w.model]["revision"],
    log:
        "logs/download_model/{model}.log",
    # Compute nodes often have no internet: downloads run where Snakemake itself runs.
    localrule: True
    script:
        "../scripts/download_model.py"


rule build_tiny_model:
    output:
        manifest="resources/models/{model}.json",
        weights=directory("resources/models/tiny/{model}"),
    wildcard_constraints:
        model=one_of(models_with_source("tiny")),
    input:
        code=code("models/tiny.py"),
    params:
        architecture=lambda w: SPECS[w.model]["architecture"],
        seed=0,
    log:
        "logs/build_tiny_model/{model}.log",
    script:
        "../scripts/build_tiny_model.py"
