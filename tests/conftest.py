"""The test tiers, and the fixtures they share: tiny models built once per test session (random
weights, local tokenizer). The servers, the SLURM cluster and the data fixtures live in support/."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption(
        "--container",
        action="store_true",
        help="also run the tests marked container (build the image with podman; make container-test)",
    )


TIERS = ("unit", "models", "workflow", "container")
"""The test tiers, one folder each: pure functions and local servers (seconds); tiny models built by
the tests (minutes); Snakemake runs in temporary directories; the image built with podman."""


def pytest_collection_modifyitems(config, items):
    """Each test carries its folder's tier as a marker (``pytest -m models``, or ``pytest
    tests/models``). The container tests build an image (minutes, root, podman): only on request,
    so that the normal suite does not build it too; `make container-test` asks for them."""
    for item in items:
        tier = Path(item.fspath).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
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
