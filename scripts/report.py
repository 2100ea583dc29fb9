"""Snakemake script: the self-contained HTML report."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.outputs.loader import RunOutputs
from cotrepro.outputs.report import write_report

log_to(snakemake.log[0])
write_report(RunOutputs.from_snakemake(snakemake.input, snakemake.params), Path(snakemake.output[0]))
