"""Snakemake script: restore generations (and what scoring needs) from a generation archive."""

from pathlib import Path

from cotrepro.archive import restore
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
restore(Path(snakemake.input.archive), [Path(p) for p in snakemake.output], Path.cwd())
