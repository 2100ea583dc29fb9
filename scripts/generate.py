"""Snakemake script: generate one (model, task, method) on the GPU(s) it claims, or on the CPU."""

import os
from pathlib import Path

from cotrepro.generation.gpu_slots import claim, visible_devices
from cotrepro.generation.job import GenerationJob, run_job
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
w, cfg = snakemake.wildcards, snakemake.config
spec = cfg["model_specs"][w.model]
wanted = int(snakemake.resources.get("gpu", 0))
devices = visible_devices() if wanted else []

with claim(wanted if devices else 0, devices) as slots:
    if slots:
        # Before torch is imported (run_job imports it), so this job sees only its own GPUs.
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(slots)
        print(f"GPU slot(s) {','.join(slots)} of {','.join(devices)}")
    run_job(
        GenerationJob(
            model=w.model,
            task=w.task,
            method=w.method,
            manifest=Path(snakemake.input.manifest),
            task_records=Path(snakemake.input.task),
            exemplars=Path(snakemake.input.exemplars[0]) if snakemake.input.exemplars else None,
            settings=dict(snakemake.params.settings),
            batch_size=spec.get("batch_size", cfg["generation"]["batch_size"]),
            threads=snakemake.threads,
            rows_path=Path(snakemake.output.rows),
            meta_path=Path(snakemake.output.meta),
            gpu_slots=tuple(slots),
        )
    )
