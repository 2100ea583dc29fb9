"""Snakemake script: download a model's safetensors weights and tokenizer; write its manifest."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.models.hub import download_model, write_manifest

log_to(snakemake.log[0])
src = snakemake.config["sources"]
manifest = download_model(
    snakemake.params.repo, snakemake.params.revision, retries=src["retries"], backoff_seconds=src["backoff_seconds"]
)
manifest["model"] = snakemake.wildcards.model
write_manifest(manifest, Path(snakemake.output[0]))
