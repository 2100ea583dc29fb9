"""Snakemake script: pack the generations, their metadata, the tasks and the model manifests."""

from pathlib import Path

from cotrepro.archive import pack
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
files = [Path(p) for p in snakemake.input.members]
index = pack(Path(snakemake.output[0]), files, Path.cwd())
print(f"packed {len(index['files'])} files, {len(index['generations'])} generations")
