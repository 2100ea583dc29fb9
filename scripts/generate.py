"""Snakemake script: generate one (model, task, method) on the GPU when there is one."""

from pathlib import Path

from cotrepro.generation.job import GenerationJob, run_job
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
w, cfg = snakemake.wildcards, snakemake.config
spec = cfg["model_specs"][w.model]
run_job(GenerationJob(
    model=w.model, task=w.task, method=w.method,
    manifest=Path(snakemake.input.manifest), task_records=Path(snakemake.input.task),
    exemplars=Path(snakemake.input.exemplars[0]) if snakemake.input.exemplars else None,
    settings=dict(snakemake.params.settings),
    batch_size=spec.get("batch_size", cfg["generation"]["batch_size"]),
    threads=snakemake.threads,
    rows_path=Path(snakemake.output.rows), meta_path=Path(snakemake.output.meta),
))
