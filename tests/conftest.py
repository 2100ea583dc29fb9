"""Shared fixtures: tiny models built once per test session (random weights, local tokenizer)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption(
        "--container",
        action="store_true",
        help="also run the tests marked container (build the image with podman; make container-test)",
    )


def pytest_collection_modifyitems(config, items):
    """The container tests build an image (minutes, root, podman): only on request, so that the
    normal suite does not build it too; `make container-test` asks for them."""
    if config.getoption("--container"):
        return
    skip = pytest.mark.skip(reason="builds and runs the image with podman: make container-test")
    for item in items:
        if "container" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Directories of a tiny T5-style and a tiny Llama-style model, keyed by architecture."""
    from cotrepro.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {arch: build_tiny_model(arch, root / arch, seed=0) for arch in ("seq2seq", "causal")}
