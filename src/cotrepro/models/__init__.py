"""Models stage: weights from the Hugging Face Hub (manifest, sha256) and the demo's tiny random models."""
