"""Snakemake script: generate every (task, method) of one model, loading it once, on the GPU(s) it
claims or on the CPU."""

from pathlib import Path

from cotrepro import methods
from cotrepro.generation.gpu_slots import job_devices
from cotrepro.generation.job import GenerationJob, GenerationUnit, run_job
from cotrepro.io import run_key
from cotrepro.joblog import log_to
from cotrepro.served_spec import served_job_settings

log_to(snakemake.log[0])
model, cfg = snakemake.wildcards.model, snakemake.config
spec = cfg["model_specs"][model]
records = {Path(p).stem: Path(p) for p in snakemake.input.tasks}
exemplars = snakemake.params.exemplars  # task -> exemplar file, for tasks with few-shot units
units = []
for rows, meta in zip(snakemake.output.rows, snakemake.output.meta, strict=True):
    _, task, method = run_key(rows)
    units.append(
        GenerationUnit(
            task=task,
            method=method,
            task_records=records[task],
            exemplars=Path(exemplars[task]) if methods.get(method).few_shot else None,
            settings=dict(snakemake.params.units[f"{task}/{method}"]),
            rows_path=Path(rows),
            meta_path=Path(meta),
        )
    )

# Entered before torch is imported (run_job imports it), so that this job sees only its own GPUs.
with job_devices(int(snakemake.resources.get("gpu", 0))) as slots:
    run_job(
        GenerationJob(
            model=model,
            manifest=Path(snakemake.input.manifest),
            units=tuple(units),
            # The batch size is read here, not passed as a parameter: changing it (speed, not
            # results) reruns nothing.
            batch_size=spec.get("batch_size", cfg["generation"]["batch_size"]),
            threads=snakemake.threads,
            gpu_slots=tuple(slots),
            served=served_job_settings(spec),
            server_log=Path(snakemake.log[0]).with_suffix(".server.log"),
        )
    )
