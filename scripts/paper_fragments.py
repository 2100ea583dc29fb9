"""Snakemake script: the paper's LaTeX fragments (tables and numbers) from the results."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.outputs.loader import RunOutputs
from cotrepro.outputs.paper import write_fragments

log_to(snakemake.log[0])
write_fragments(RunOutputs.from_snakemake(snakemake.input, snakemake.params), Path(snakemake.output[0]))
