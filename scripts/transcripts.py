"""Snakemake script: the example transcripts (one right, one wrong CoT answer per model)."""

from pathlib import Path

from cotrepro.io import read_jsonl, write_json
from cotrepro.joblog import log_to
from cotrepro.transcripts import choose

log_to(snakemake.log[0])
records = {Path(p).stem: read_jsonl(Path(p)) for p in snakemake.input.records}
runs = {}
for gen, score in zip(map(Path, snakemake.input.generations), map(Path, snakemake.input.scores)):
    model, task, method = gen.parent.parent.name, gen.parent.name, gen.stem
    runs[model, task, method] = (read_jsonl(gen), read_jsonl(score), records[task])
write_json(Path(snakemake.output[0]), choose(snakemake.params.models, snakemake.params.tasks, runs))
