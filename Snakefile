# cotrepro: reproduce chain-of-thought prompting results with open Hugging Face models.
#
#   snakemake --cores all                               full reproduction (config/config.yaml)
#   snakemake --cores all --configfile config/demo.yaml offline demo with tiny random models
#
#   snakemake archive                                   pack the generations into one file
#   snakemake --cores all --config from_archive=F       rebuild everything else from it, no GPU
#
# The DAG: download/prepare data and exemplars, download (or build) models, generate (one job a
# model, one file a (model, task, method)), extract answers, aggregate accuracy, paired tests, draw
# figures, write the HTML report and build the paper (LaTeX).

from pathlib import Path


# Found next to this Snakefile whatever the working directory; --configfile replaces it.
configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


# The front page of `snakemake --report`.
report: "report/workflow.rst"


include: "rules/common.smk"


# Each job's software. `--sdm apptainer` runs every job in this image (built from the Dockerfile;
# config key container_image names where you pushed it); `--sdm conda` in the environment pinned
# from requirements.lock; a plain run uses the current environment.
container: config["container_image"]


conda: "envs/cotrepro.yaml"


# From an archive, the generations are restored instead of made: no data, model or generation rule.
if not FROM_ARCHIVE:

    include: "rules/data.smk"
    include: "rules/models.smk"
    include: "rules/generate.smk"
    include: "rules/batch_invariance.smk"

    # Only a run with verifiers scoring some unit has verify jobs.
    if VERIFY_UNITS:

        include: "rules/verify.smk"


include: "rules/archive.smk"
include: "rules/score.smk"
include: "rules/report.smk"
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        "results/accuracy.csv",
        "results/accuracy_vs_paths.csv",
        "results/selection.csv",
        FIGURES,
        "results/report.html",
        "results/paper/paper.pdf",


# A full disk: refused before any job (Snakemake itself would fail backing up a job's outputs, with
# a traceback), and named after a failed run (its own last word blames write permissions).
onstart:
    if full := disk_full_line(Path.cwd()):
        sys.exit(full)


onerror:
    if full := disk_full_line(Path.cwd()):
        print(full, file=sys.stderr)
