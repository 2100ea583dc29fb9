"""Snakemake script: download a Hub verifier's safetensors weights and tokenizer as a model's are;
write its manifest (resources/verifiers/{verifier}.json), with the licence its model card gives,
unless its config needs remote code (the workflow refuses that before any job where it can reach
the Hub; this is the check when it could not)."""

from pathlib import Path

from cotrepro.engine.hf.verifier_scores import refuse_remote_code
from cotrepro.io import read_json
from cotrepro.joblog import log_to, stop
from cotrepro.models.hub import download_model, model_dir, write_manifest
from cotrepro.models.verifier_config import card_licence

log_to(snakemake.log[0])
src = snakemake.config["sources"]
manifest = download_model(
    snakemake.params.repo, snakemake.params.revision, retries=src["retries"], backoff_seconds=src["backoff_seconds"]
)
manifest["model"] = snakemake.wildcards.verifier
manifest["licence"] = card_licence(snakemake.params.repo, manifest["resolved_revision"])
try:
    refuse_remote_code(snakemake.wildcards.verifier, read_json(model_dir(manifest) / "config.json"))
except ValueError as err:
    stop(err)
write_manifest(manifest, Path(snakemake.output[0]))
