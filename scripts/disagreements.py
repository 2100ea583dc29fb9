"""Snakemake script: every score file, with its generations and task records -> the disagreements CSV."""

from pathlib import Path

from cotrepro.io import atomic_write_text, read_jsonl, run_key
from cotrepro.joblog import log_to
from cotrepro.scoring.disagreements import disagreement_table

log_to(snakemake.log[0])
records = {Path(p).stem: read_jsonl(Path(p)) for p in snakemake.input.tasks}


def units():
    for gen, scores in zip(snakemake.input.generations, snakemake.input.scores, strict=True):
        key = run_key(scores)
        yield key, read_jsonl(Path(gen)), read_jsonl(Path(scores)), records[key[1]]


table = disagreement_table(units())
atomic_write_text(Path(snakemake.output[0]), table.to_csv(index=False))
print(f"{len(table)} items where the two extraction styles disagree")
