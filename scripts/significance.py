"""Snakemake script: McNemar's exact test for the method pairs on the same questions."""

from pathlib import Path

from cotrepro.io import atomic_write_text, read_jsonl, run_key
from cotrepro.joblog import log_to
from cotrepro.scoring.significance import significance_table

log_to(snakemake.log[0])
scores = {run_key(path): read_jsonl(Path(path)) for path in snakemake.input.scores}
atomic_write_text(Path(snakemake.output[0]), significance_table(scores).to_csv(index=False))
