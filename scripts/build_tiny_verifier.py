"""Snakemake script: build a tiny random-weight verifier (ORM or PRM) for the offline demo; write its manifest."""

from pathlib import Path

from cotrepro.io import write_json
from cotrepro.joblog import log_to
from cotrepro.models.tiny import build_tiny_verifier, tiny_manifest

log_to(snakemake.log[0])
out = Path(snakemake.output.weights)
kind, seed = snakemake.params.kind, snakemake.params.seed
build_tiny_verifier(kind, out, seed=seed)
write_json(Path(snakemake.output.manifest), tiny_manifest(snakemake.wildcards.verifier, kind, out, seed))
