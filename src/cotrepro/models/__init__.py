"""Models stage: where a model's outputs come from: weights from the Hugging Face Hub (manifest,
sha256), the demo's tiny random models, and a paper's released completions."""

from __future__ import annotations

from pathlib import Path


def model_dir(manifest: dict) -> Path:
    """The local directory holding a manifest's model files: a tiny model's own folder, or the
    Hugging Face cache's snapshot of a hub model's exact commit."""
    if manifest.get("source") == "tiny":
        return Path(manifest["path"])
    from cotrepro.models.hub import model_dir as hub_model_dir

    return hub_model_dir(manifest)
