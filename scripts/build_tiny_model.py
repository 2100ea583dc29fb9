"""Snakemake script: build a tiny random-weight model for the offline demo; write its manifest."""

from pathlib import Path

from cotrepro.io import write_json
from cotrepro.joblog import log_to
from cotrepro.models.tiny import build_tiny_model, tiny_manifest

log_to(snakemake.log[0])
out = Path(snakemake.output.weights)
build_tiny_model(snakemake.params.architecture, out, seed=snakemake.params.seed, shape=snakemake.params.shape)
write_json(
    Path(snakemake.output.manifest),
    tiny_manifest(snakemake.wildcards.model, snakemake.params.architecture, out, snakemake.params.seed),
)
