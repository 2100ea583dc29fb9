"""Snakemake script: the manifest of a model that exists only behind a server (source served)."""

from cotrepro.io import write_json
from cotrepro.joblog import log_to

log_to(snakemake.log[0])
served_model = snakemake.params.served_model
write_json(
    snakemake.output[0],
    # The name is the only revision a server states up front; what it reports is in the metadata.
    {
        "source": "served",
        "repo": None,
        "served_model": served_model,
        "requested_revision": None,
        "resolved_revision": served_model,
    },
)
