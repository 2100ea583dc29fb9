"""Snakemake script: the self-consistency score files -> results/accuracy_vs_paths.csv."""

from pathlib import Path

from cotrepro.io import read_jsonl, run_key
from cotrepro.joblog import log_to
from cotrepro.scoring.self_consistency import paths_table

log_to(snakemake.log[0])
parts = []
for path in snakemake.input.scores:
    model, task, method = run_key(path)
    parts.append(({"model": model, "task": task, "method": method}, read_jsonl(Path(path))))
paths_table(parts, seed=snakemake.params.seed).to_csv(snakemake.output[0], index=False)
