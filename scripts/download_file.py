"""Snakemake script: download one pinned third-party file and check its sha256."""

from cotrepro.data.download import fetch_url
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
src = snakemake.config["sources"]
pinned = snakemake.params.file
fetch_url(
    pinned.url(src["github_base_url"]),
    snakemake.output[0],
    pinned.sha256,
    retries=src["retries"],
    backoff_seconds=src["backoff_seconds"],
    timeout=src["timeout_seconds"],
)
