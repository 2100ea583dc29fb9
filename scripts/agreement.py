"""Snakemake script: one model's prompts for one task through two backends (by default transformers
and the from-scratch Llama; or either beside a server of the same weights); writes how many rows agree."""

from pathlib import Path

import torch

from cotrepro.checks.agreement import backend_agreement
from cotrepro.engine.memory_guard import memory_error_line
from cotrepro.io import read_json, read_jsonl, write_json
from cotrepro.joblog import log_to, stop, stopping_on
from cotrepro.models.weights_check import WeightsError, verify_model_files

log_to(snakemake.log[0])
p = snakemake.params
manifest = read_json(snakemake.input.manifest)
try:
    weights = verify_model_files(snakemake.wildcards.model, manifest, Path(snakemake.input.manifest))
except WeightsError as err:
    stop(err)
records = read_jsonl(snakemake.input.task)[: p.limit or None]
torch.set_num_threads(snakemake.threads)
with stopping_on(memory_error_line):
    summary = backend_agreement(
        weights,
        records,
        p.methods,
        settings=dict(p.settings),
        rows_dir=Path(snakemake.output.rows),
        exemplar_doc=read_json(snakemake.input.exemplars[0]) if snakemake.input.exemplars else None,
        shots=p.shots,
        backends=p.backends,
        served=dict(p.served, log=Path(snakemake.log[0]).with_suffix(".server.log")) if p.served else None,
    )
write_json(
    Path(snakemake.output.summary),
    {"model": snakemake.wildcards.model, "revision": manifest["resolved_revision"], "task": p.task, **summary},
)
