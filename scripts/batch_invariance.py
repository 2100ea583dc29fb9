"""Snakemake script: one model's seeded subset of one unit's questions generated again at batch size
1, on the GPU(s) it claims or on the CPU, each row compared with the batched run's."""

from pathlib import Path

from cotrepro.checks.batch_invariance import measure
from cotrepro.engine.memory_guard import memory_error_line
from cotrepro.generation import runner
from cotrepro.generation.gpu_slots import job_devices
from cotrepro.generation.job import select_exemplars
from cotrepro.io import read_json, read_jsonl
from cotrepro.joblog import log_to, stop, stopping_on
from cotrepro.models.weights_check import WeightsError, verify_model_files
from cotrepro.row_integrity import RowIntegrityError, read_checked

log_to(snakemake.log[0])
p, i = snakemake.params, snakemake.input
settings = dict(p.settings)
out = Path(snakemake.output.rows)
try:
    verify_model_files(snakemake.wildcards.model, read_json(i.manifest), Path(i.manifest))
except WeightsError as err:
    stop(err)
records = read_jsonl(i.task)[: settings["limit"] or None]
try:
    batched = read_checked(Path(i.batched), [r["id"] for r in records])  # the unit's questions, each once
except RowIntegrityError as err:
    stop(err)
exemplar_doc = read_json(i.exemplars[0]) if i.exemplars else None
# Entered before torch is imported (measure imports it), so that this job sees only its own GPUs.
with job_devices(int(snakemake.resources.get("gpu", 0))) as slots, stopping_on(memory_error_line):
    import torch

    torch.set_num_threads(snakemake.threads)
    rows = measure(
        read_json(i.manifest),
        records,
        batched,
        method=p.method,
        exemplars=select_exemplars(exemplar_doc, p.method, settings["shots"]),
        settings=settings,
        questions=p.questions,
        seed=p.seed,
        out_path=out,
        devices=max(1, len(slots)),
    )
runner.finish(out, rows)
runner.drop_journal(out)
differing = sum(r["batch_invariance"]["completion_differs"] for r in rows)
print(f"{snakemake.wildcards.model} {p.task}/{p.method}: {differing} of {len(rows)} completions differ at batch size 1")
