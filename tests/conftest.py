"""Shared fixtures: tiny models built once per test session (random weights, local tokenizer)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Directories of a tiny T5-style and a tiny Llama-style model, keyed by architecture."""
    from cotrepro.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {arch: build_tiny_model(arch, root / arch, seed=0) for arch in ("seq2seq", "causal")}
