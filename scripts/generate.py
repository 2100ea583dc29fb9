"""Snakemake script: generate every (task, method) of one model, loading it once, on the GPU(s) it
claims or on the CPU.

Before the model loads, its files are checked against the manifest's sha256
(:mod:`cotrepro.models.weights_check`) and each unit's earlier rows are cut to the intact ones
(:mod:`cotrepro.row_integrity`), so that damaged rows are regenerated, not reused; once the job has
written them, every row gets its content hash. Both happen here, outside the generation job's code,
so that no row's key changes for them (see cotrepro.code_digest)."""

from pathlib import Path

from cotrepro import methods
from cotrepro.engine.memory_guard import memory_error_line
from cotrepro.generation.gpu_slots import job_devices
from cotrepro.generation.job import GenerationJob, GenerationUnit, run_job
from cotrepro.generation.runner import journal_path
from cotrepro.io import read_json, run_key
from cotrepro.joblog import log_to, stop, stopping_on
from cotrepro.models.weights_check import WeightsError, verify_model_files
from cotrepro.row_integrity import keep_intact, stamp_file
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

try:
    verify_model_files(model, read_json(snakemake.input.manifest), Path(snakemake.input.manifest))
except WeightsError as err:
    stop(err)
for unit in units:
    for path in (unit.rows_path, journal_path(unit.rows_path)):
        if dropped := keep_intact(path):
            print(f"{path}: {dropped} damaged line(s) dropped; their questions are generated again")

# Entered before torch is imported (run_job imports it), so that this job sees only its own GPUs.
with job_devices(int(snakemake.resources.get("gpu", 0))) as slots, stopping_on(memory_error_line):
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
for unit in units:
    stamp_file(unit.rows_path)
