"""Snakemake script: a published-completions model's generation files, one per (task, method), from its logs."""

from pathlib import Path

from cotrepro.generation.imported import import_unit
from cotrepro.io import read_json, run_key
from cotrepro.joblog import log_to
from cotrepro.models.published import log_file
from cotrepro.row_integrity import stamp_file

log_to(snakemake.log[0])
model = snakemake.wildcards.model
manifest_doc = read_json(Path(snakemake.input.manifest))
logs = {Path(p).name: Path(p) for p in snakemake.input.logs}
records = {Path(p).stem: Path(p) for p in snakemake.input.tasks}
for rows, meta in zip(snakemake.output.rows, snakemake.output.meta, strict=True):
    _, task, method = run_key(rows)
    import_unit(
        model=model,
        manifest_doc=manifest_doc,
        spec=dict(snakemake.params.spec),
        task=task,
        method=method,
        log=logs[log_file(task, method).filename],
        task_records=records[task],
        limit=snakemake.config["limit"],
        rows_path=Path(rows),
        meta_path=Path(meta),
    )
    stamp_file(Path(rows))  # each row's content hash, checked wherever the rows are read
    print(f"{model} {task}/{method}: imported from {log_file(task, method).describe()}")
