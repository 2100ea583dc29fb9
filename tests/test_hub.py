"""Model downloads through huggingface_hub against a local server speaking the Hub's protocol.

huggingface_hub reads HF_ENDPOINT and HF_HOME when imported, so each download runs in a fresh
interpreter with those variables set: the same path users take.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from servers import HubServer, tiny_repo_files

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def call(base_url, home, code, offline=False):
    env = {**os.environ, "HF_ENDPOINT": base_url, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return proc


def download(base_url, home, repo="org/tiny", revision="main"):
    code = ("import json; from cotrepro.hub import download_model; "
            f"print(json.dumps(download_model({repo!r}, {revision!r}, retries=2, backoff_seconds=0.01)))")
    proc = call(base_url, home, code)
    return proc, (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None)


@pytest.fixture(scope="module")
def files():
    return tiny_repo_files()


def test_download_records_resolved_commit_and_checksums(tmp_path, files):
    with HubServer({"org/tiny": {"commit": COMMIT, "files": files}}, fail_first=2) as s:
        proc, manifest = download(s.base_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert manifest["requested_revision"] == "main" and manifest["resolved_revision"] == COMMIT
    assert manifest["endpoint"] == s.base_url
    expected = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()
                if p in ("config.json", "tokenizer_config.json", "model.safetensors")}
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == expected
    fetched = [p for m, p in s.requests if m == "GET" and "/resolve/" in p]
    assert fetched and all(f"/resolve/{COMMIT}/" in p for p in fetched)  # the exact commit, not the branch
    assert not any(p.endswith((".bin", "README.md")) for p in fetched)
    assert not list(tmp_path.rglob("pytorch_model.bin"))
    # Two of the protocol's requests failed with 503 first and were retried.
    assert sum(1 for m, p in s.requests if p.startswith("/api/models/")) >= 3


def test_pinned_commit_and_offline_model_dir(tmp_path, files):
    with HubServer({"org/tiny": {"commit": COMMIT, "files": files}}) as s:
        proc, manifest = download(s.base_url, tmp_path, revision=COMMIT)
        assert proc.returncode == 0, proc.stderr
        assert manifest["requested_revision"] == COMMIT == manifest["resolved_revision"]
    # The server is gone: the cache alone must serve the exact commit.
    code = f"from cotrepro.hub import model_dir; print(model_dir({manifest!r}))"
    proc = call(s.base_url, tmp_path, code, offline=True)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip().splitlines()[-1]
    assert path.endswith(COMMIT) and os.path.exists(os.path.join(path, "model.safetensors"))


def test_missing_cache_is_a_clear_error(tmp_path):
    manifest = {"repo": "org/tiny", "resolved_revision": COMMIT}
    proc = call("http://127.0.0.1:9", tmp_path, f"from cotrepro.hub import model_dir; model_dir({manifest!r})",
                offline=True)
    assert proc.returncode != 0
    assert "is not in the Hugging Face cache" in proc.stderr and "rerun to download it" in proc.stderr


def test_repo_without_safetensors_is_refused(tmp_path, files):
    pickled_only = {p: d for p, d in files.items() if not p.endswith(".safetensors")}
    with HubServer({"org/old": {"commit": COMMIT, "files": pickled_only}}) as s:
        proc, _ = download(s.base_url, tmp_path, repo="org/old")
    assert proc.returncode != 0
    assert "cotrepro loads safetensors weights only; org/old@main has none" in proc.stderr


def test_unknown_repo_and_revision_fail_at_once(tmp_path, files):
    with HubServer({"org/tiny": {"commit": COMMIT, "files": files}}) as s:
        proc, _ = download(s.base_url, tmp_path, repo="org/nope")
        assert proc.returncode != 0 and "RepositoryNotFoundError" in proc.stderr and "org/nope" in proc.stderr
        proc, _ = download(s.base_url, tmp_path, revision="v9")
        assert proc.returncode != 0 and "RevisionNotFoundError" in proc.stderr
    assert sum(1 for m, p in s.requests if "/revision/" in p) == 2  # no retries for either


def test_persistent_server_errors_give_up_with_the_reason(tmp_path, files):
    with HubServer({"org/tiny": {"commit": COMMIT, "files": files}}, fail_first=100) as s:
        proc, _ = download(s.base_url, tmp_path)
    assert proc.returncode != 0
    assert "downloading org/tiny@main from " + s.base_url in proc.stderr and "after 3 attempt(s)" in proc.stderr
