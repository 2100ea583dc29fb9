"""Snakemake script: results/calibration.csv, the published completions re-scored beside the published numbers."""

from pathlib import Path

import pandas as pd

from cotrepro.io import atomic_write_text, read_jsonl, run_key
from cotrepro.joblog import log_to
from cotrepro.outputs.calibration import calibration_table

log_to(snakemake.log[0])


def units():
    for generations, scores in zip(snakemake.input.generations, snakemake.input.scores, strict=True):
        model, task, method = run_key(generations)
        yield {"model": model, "task": task, "method": method}, read_jsonl(Path(generations)), read_jsonl(Path(scores))


table = calibration_table(units(), pd.read_csv(snakemake.input.published, dtype={"accuracy": str}))
atomic_write_text(Path(snakemake.output[0]), table.to_csv(index=False))
