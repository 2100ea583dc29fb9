"""Snakemake script: every model's batch-1 rows against its batched run's, counted (differing
completions, flipped answers per extraction style) into results/batch_invariance.csv and a JSON of
details per model."""

from pathlib import Path

from cotrepro.checks.batch_invariance_summary import summarize, table
from cotrepro.io import read_json, read_jsonl, write_json
from cotrepro.joblog import log_to, stop
from cotrepro.row_integrity import RowIntegrityError, read_checked, unit_ids

log_to(snakemake.log[0])
p, i = snakemake.params, snakemake.input
records = read_jsonl(i.task)
summaries = []
for model, rows, batched, meta, out in zip(p.models, i.rows, i.batched, i.meta, snakemake.output.details, strict=True):
    unit_meta = read_json(meta)
    try:
        batched_rows = read_checked(Path(batched), unit_ids(unit_meta, records))
    except RowIntegrityError as err:
        stop(err)
    summary = summarize(model, p.task, p.method, read_jsonl(rows), batched_rows, records, unit_meta)
    write_json(Path(out), summary)
    summaries.append(summary)
table(summaries).to_csv(snakemake.output.table, index=False)
