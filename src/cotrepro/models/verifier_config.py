"""A Hub verifier's ``config.json``, read before any job so that one needing remote code is refused
at once: from the downloaded snapshot when its manifest exists, else that one small file fetched at
the pinned revision (the weights are not downloaded for it); and the licence its model card gives."""

from __future__ import annotations

from pathlib import Path

from cotrepro.io import read_json
from cotrepro.models.hub import ModelDownloadError


def verifier_config(spec: dict, manifest_path: Path) -> dict:
    """The ``config.json`` of a Hub verifier ``spec`` (repo, revision): the downloaded one where the
    manifest is of that revision, else fetched."""
    from huggingface_hub import hf_hub_download

    from cotrepro.models.hub import model_dir

    manifest_path = Path(manifest_path)
    manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    # A manifest of another revision is stale: the new one is downloaded, so its config is read.
    if manifest.get("requested_revision") == spec["revision"]:
        return read_json(model_dir(manifest) / "config.json")
    try:
        return read_json(Path(hf_hub_download(spec["repo"], "config.json", revision=spec["revision"])))
    except Exception as err:  # offline, no such repo or revision: said in one line by the caller
        detail = (str(err).splitlines() or ["no detail"])[0]
        raise ModelDownloadError(
            f"cannot read {spec['repo']}@{spec['revision']}/config.json ({type(err).__name__}: {detail})"
        ) from None


def card_licence(repo: str, revision: str) -> str | None:
    """The licence a Hub repository's model card gives at ``revision`` (None where it gives none or
    the card cannot be read: the verifier's ``licence`` config key then says it)."""
    from huggingface_hub import HfApi

    try:
        card = HfApi().model_info(repo, revision=revision).card_data
    except Exception:  # a licence is provenance, not a reason to fail a finished download
        return None
    return card.get("license") if card else None
