"""Snakemake script: extract answers (both styles) from each of one model's generations files and score them.

Each file's rows are checked first (:mod:`cotrepro.row_integrity`); a damaged file stops the job
with one line naming it, the damaged ids and the remedy, and nothing of it is scored."""

from pathlib import Path

from cotrepro.io import read_json, read_jsonl, run_key, write_jsonl
from cotrepro.joblog import log_to, stop
from cotrepro.row_integrity import RowIntegrityError, checked_rows, forcerun_remedy, unit_ids
from cotrepro.scoring.score import score_rows

log_to(snakemake.log[0])
records = {Path(p).stem: read_jsonl(Path(p)) for p in snakemake.input.tasks}
checked, damaged = [], []
for rows, meta, out in zip(snakemake.input.rows, snakemake.input.meta, snakemake.output, strict=True):
    _, task, method = run_key(rows)
    try:
        expected = unit_ids(read_json(Path(meta)), records[task])
        checked.append((task, method, out, checked_rows(Path(rows), expected, forcerun_remedy(rows))))
    except RowIntegrityError as err:
        damaged.append(str(err))
if damaged:
    stop("\n".join(damaged))  # one line a damaged file; nothing of the model is scored
for task, method, out, rows in checked:
    write_jsonl(Path(out), score_rows(rows, records[task], method))
    print(f"{task}/{method}: scored")
