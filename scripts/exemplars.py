"""Snakemake script: one exemplar set (downloaded or the project's own) -> normalised JSON."""

from pathlib import Path

from cotrepro.data.exemplars import write_exemplar_set
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
write_exemplar_set(snakemake.wildcards.exset, Path(snakemake.input.source), Path(snakemake.output[0]))
