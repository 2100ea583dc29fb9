"""Snakemake script: raw dataset files -> canonical task records, with provenance."""

from pathlib import Path

from cotrepro.data.tasks import get_task
from cotrepro.data.tasks.prepare import prepare_records
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
prepare_records(
    get_task(snakemake.wildcards.task),
    [Path(p) for p in snakemake.input.data],
    params=dict(snakemake.params.settings),
    records_path=Path(snakemake.output.records),
    provenance_path=Path(snakemake.output.provenance),
)
