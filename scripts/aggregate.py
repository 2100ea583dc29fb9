"""Snakemake script: every score file -> results/accuracy.csv."""

from pathlib import Path

from cotrepro.io import atomic_write_text, read_json, read_jsonl, run_key
from cotrepro.joblog import log_to
from cotrepro.scoring.aggregate import accuracy_table

log_to(snakemake.log[0])


def parts():
    for scores, meta in zip(snakemake.input.scores, snakemake.input.meta, strict=True):
        model, task, method = run_key(scores)
        yield {"model": model, "task": task, "method": method}, read_jsonl(Path(scores)), read_json(Path(meta))


atomic_write_text(Path(snakemake.output[0]), accuracy_table(parts()).to_csv(index=False))
