"""Snakemake script: McNemar's exact test for the method pairs on the same questions."""

from pathlib import Path

from cotrepro.io import read_jsonl
from cotrepro.joblog import log_to
from cotrepro.significance import significance_table

log_to(snakemake.log[0])
scores = {}
for path in map(Path, snakemake.input.scores):
    # results/scores/{model}/{task}/{method}.jsonl
    scores[path.parent.parent.name, path.parent.name, path.stem] = read_jsonl(path)
table = significance_table(scores)
Path(snakemake.output[0]).parent.mkdir(parents=True, exist_ok=True)
table.to_csv(snakemake.output[0], index=False)
