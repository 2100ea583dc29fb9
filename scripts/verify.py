"""Snakemake script: one verifier scores every stored path of its units, its model loaded once (kind
self: each generating model once), on the GPU it claims or on the CPU; each unit into its
verification file and metadata (the contract in cotrepro.rows)."""

from pathlib import Path

from cotrepro.engine.memory_guard import memory_error_line
from cotrepro.generation.gpu_slots import job_devices
from cotrepro.generation.verify_job import VerifyJob, VerifyUnit, run_verify_job
from cotrepro.io import run_key
from cotrepro.joblog import log_to, stop, stopping_on
from cotrepro.models.weights_check import WeightsError

log_to(snakemake.log[0])
cfg = snakemake.config
records = {Path(p).stem: Path(p) for p in snakemake.input.tasks}
generations = {run_key(p): Path(p) for p in snakemake.input.generations}
units = []
for rows, meta in zip(snakemake.output.rows, snakemake.output.meta, strict=True):
    model, task, method = run_key(rows)
    units.append(
        VerifyUnit(model, task, method, generations[model, task, method], records[task], Path(rows), Path(meta))
    )
job = VerifyJob(
    verifier=snakemake.wildcards.verifier,
    spec=dict(snakemake.params.spec),
    manifests={k: Path(v) for k, v in snakemake.params.manifests.items()},
    units=tuple(units),
    architectures=dict(snakemake.params.architectures),
    device=cfg["generation"]["device"],
    dtype=cfg["generation"]["dtype"],
)

# Entered before torch is imported (the job imports it), so that this job sees only its own GPU.
with job_devices(int(snakemake.resources.get("gpu", 0))), stopping_on(memory_error_line):
    import torch

    torch.set_num_threads(snakemake.threads)
    try:
        run_verify_job(job)
    except (WeightsError, ValueError) as err:  # damaged weights, remote code, a misaligned PRM format
        stop(err)
