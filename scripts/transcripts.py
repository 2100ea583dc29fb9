"""Snakemake script: the example transcripts (one right, one wrong CoT answer per model)."""

from pathlib import Path

from cotrepro.io import read_jsonl, run_key, write_json
from cotrepro.joblog import log_to
from cotrepro.outputs.transcripts import choose

log_to(snakemake.log[0])
records = {Path(p).stem: read_jsonl(Path(p)) for p in snakemake.input.records}
runs = {}
for gen, score in zip(snakemake.input.generations, snakemake.input.scores, strict=True):
    model, task, method = run_key(gen)
    runs[model, task, method] = (read_jsonl(Path(gen)), read_jsonl(Path(score)), records[task])
write_json(Path(snakemake.output[0]), choose(snakemake.params.models, snakemake.params.tasks, runs))
