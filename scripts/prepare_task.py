"""Snakemake script: raw dataset files -> canonical task records, with provenance."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.data.tasks import get_task
from cotrepro.data.tasks.prepare import prepare_records

log_to(snakemake.log[0])
prepare_records(get_task(snakemake.wildcards.task), [Path(p) for p in snakemake.input.data],
                params=dict(snakemake.params.settings), records_path=Path(snakemake.output.records),
                provenance_path=Path(snakemake.output.provenance))
