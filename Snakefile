# cotrepro: reproduce chain-of-thought prompting results with open Hugging Face models.
#
#   snakemake --cores all                               full reproduction (config/config.yaml)
#   snakemake --cores all --configfile config/demo.yaml offline demo with tiny random models
#
# The DAG: download/prepare data and exemplars, download (or build) models, generate per
# (model, task, method), extract answers, aggregate accuracy, draw figures, write the report.

from pathlib import Path


# Found next to this Snakefile whatever the working directory; --configfile replaces it.
configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        "results/accuracy.csv",
        FIGURES,
        "results/report.html",
