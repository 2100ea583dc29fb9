"""Snakemake script: extract answers (both styles) from one generations file and score them."""

from pathlib import Path

from cotrepro.io import read_jsonl, write_jsonl
from cotrepro.joblog import log_to
from cotrepro.scoring.score import score_rows

log_to(snakemake.log[0])
scores = score_rows(
    read_jsonl(Path(snakemake.input.rows)), read_jsonl(Path(snakemake.input.task)), snakemake.wildcards.method
)
write_jsonl(Path(snakemake.output[0]), scores)
