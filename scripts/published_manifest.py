"""Snakemake script: the manifest of a published-completions model (its pinned logs, with sha256)."""

from pathlib import Path

from cotrepro.io import write_json
from cotrepro.joblog import log_to
from cotrepro.models.published import manifest

log_to(snakemake.log[0])
write_json(
    Path(snakemake.output[0]),
    manifest(snakemake.wildcards.model, dict(snakemake.params.spec), [Path(p) for p in snakemake.input.logs]),
)
