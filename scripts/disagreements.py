"""Snakemake script: every score file, with its generations and task records -> the disagreements CSV.

Each generations file is checked (:mod:`cotrepro.row_integrity`) against its score file's ids, the
questions extraction scored from it; a damaged one stops the job with one line naming it."""

from pathlib import Path

from cotrepro.io import atomic_write_text, read_jsonl, run_key
from cotrepro.joblog import log_to, stop
from cotrepro.row_integrity import RowIntegrityError, read_checked
from cotrepro.scoring.disagreements import disagreement_table

log_to(snakemake.log[0])
records = {Path(p).stem: read_jsonl(Path(p)) for p in snakemake.input.tasks}


def units():
    for gen, scores in zip(snakemake.input.generations, snakemake.input.scores, strict=True):
        key = run_key(scores)
        scored = read_jsonl(Path(scores))
        yield key, read_checked(Path(gen), [s["id"] for s in scored]), scored, records[key[1]]


try:
    table = disagreement_table(units())
except RowIntegrityError as err:
    stop(err)
atomic_write_text(Path(snakemake.output[0]), table.to_csv(index=False))
print(f"{len(table)} items where the two extraction styles disagree")
