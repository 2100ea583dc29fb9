"""A model's files are checked against its manifest's sha256 before a job loads them (issue 24,
case 2): a bit-flipped, a truncated and a missing file, and a deleted folder, each stop with one
line naming the model and the remedy; a file found good is not hashed again while its size and
mtime stay."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cotrepro.io import read_json, write_json
from cotrepro.models.tiny import build_tiny_model, tiny_manifest
from cotrepro.models.weights_check import WeightsError, cache_path, verify_model_files

WEIGHTS = "model.safetensors"


@pytest.fixture
def tiny(tmp_path_factory, tiny_models) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("weights")
    weights = root / "tiny" / "tiny-llama"
    shutil.copytree(tiny_models["causal"], weights)
    manifest = tiny_manifest("tiny-llama", "causal", weights, 0)
    path = root / "tiny-llama.json"
    write_json(path, manifest)
    return manifest, path


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def refused(manifest, path) -> str:
    with pytest.raises(WeightsError) as err:
        verify_model_files("tiny-llama", manifest, path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("model tiny-llama: ")
    assert f"--forcerun {path} to rebuild it" in message
    return message


def test_intact_files_pass_and_are_remembered(tiny):
    manifest, path = tiny
    assert verify_model_files("tiny-llama", manifest, path) == Path(manifest["path"])
    assert set(read_json(cache_path(path))) == {f["path"] for f in manifest["files"]}


def test_a_bit_flipped_weights_file_is_refused(tiny):
    manifest, path = tiny
    verify_model_files("tiny-llama", manifest, path)  # remembered as good first
    flip_a_bit(Path(manifest["path"]) / WEIGHTS)
    assert WEIGHTS in refused(manifest, path)


def test_a_truncated_or_missing_file_is_refused(tiny):
    manifest, path = tiny
    weights = Path(manifest["path"]) / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    assert WEIGHTS in refused(manifest, path)
    weights.unlink()
    assert WEIGHTS in refused(manifest, path)


def test_a_deleted_folder_is_refused(tiny):
    manifest, path = tiny
    shutil.rmtree(manifest["path"])
    assert "is missing" in refused(manifest, path)


def test_a_file_unchanged_in_size_and_mtime_is_not_hashed_again(tiny):
    manifest, path = tiny
    verify_model_files("tiny-llama", manifest, path)
    weights = Path(manifest["path"]) / WEIGHTS
    st = weights.stat()
    flip_a_bit(weights)
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # the one change the cache cannot see
    verify_model_files("tiny-llama", manifest, path)
    cache_path(path).unlink()  # forgetting the cache hashes it again
    assert WEIGHTS in refused(manifest, path)


def test_a_rebuilt_tiny_model_has_the_same_files(tmp_path):
    # So rebuilding a damaged tiny model (the remedy) gives back the rows' revision: no row regenerates.
    first = tiny_manifest("m", "causal", build_tiny_model("causal", tmp_path / "a"), 0)
    again = tiny_manifest("m", "causal", build_tiny_model("causal", tmp_path / "b"), 0)
    assert first["files"] == again["files"]
    assert first["resolved_revision"] == again["resolved_revision"]
