"""Snakemake script: extract answers (both styles) from each of one model's generations files and score them."""

from pathlib import Path

from cotrepro.io import read_jsonl, run_key, write_jsonl
from cotrepro.joblog import log_to
from cotrepro.scoring.score import score_rows

log_to(snakemake.log[0])
records = {Path(p).stem: read_jsonl(Path(p)) for p in snakemake.input.tasks}
for rows, out in zip(snakemake.input.rows, snakemake.output, strict=True):
    _, task, method = run_key(rows)
    write_jsonl(Path(out), score_rows(read_jsonl(Path(rows)), records[task], method))
    print(f"{task}/{method}: scored")
