"""Model downloads through huggingface_hub against a local server speaking the Hub's protocol.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when imported, so each download
runs in a fresh interpreter with those variables set: the path users take.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import HubServer, tiny_repo_files

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NEEDED = ("config.json", "model.safetensors", "tokenizer_config.json")


def run_python(home, code, endpoint="http://127.0.0.1:9", offline=False):
    """Run ``code`` in a fresh interpreter whose huggingface_hub uses ``endpoint`` and cache ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_OFFLINE="1" if offline else "0",
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def download(endpoint, home, *args):
    """download_model(*args) then write_manifest in a subprocess; return it and the manifest (or None)."""
    out = home / "manifest.json"
    code = (
        "from cotrepro.models.hub import download_model, write_manifest\n"
        f"write_manifest(download_model(*{args!r}, retries=2, backoff_seconds=0.001), {str(out)!r})"
    )
    proc = run_python(home, code, endpoint)
    return proc, (json.loads(out.read_text()) if proc.returncode == 0 else None)


def model_dir(home, manifest):
    """model_dir(manifest) in an offline subprocess."""
    return run_python(home, f"from cotrepro.models.hub import model_dir\nprint(model_dir({manifest!r}))", offline=True)


@pytest.fixture(scope="module")
def files():
    return tiny_repo_files()


@pytest.fixture
def hub(files):
    """A Hub with org/tiny (safetensors weights plus decoys) at COMMIT on main; options via hub(**kw)."""

    def start(**options):
        return HubServer({"org/tiny": {"commit": COMMIT, "files": files}}, **options)

    return start


def test_download_records_resolved_commit_and_checksums(tmp_path, files, hub):
    with hub() as server:
        proc, manifest = download(server.base_url, tmp_path, "org/tiny")
    assert proc.returncode == 0, proc.stderr
    assert manifest["requested_revision"] == "main" and manifest["resolved_revision"] == COMMIT
    assert manifest["repo"] == "org/tiny" and manifest["endpoint"] == server.base_url
    assert manifest["files"] == [
        {"path": p, "size": len(files[p]), "sha256": hashlib.sha256(files[p]).hexdigest()} for p in NEEDED
    ]
    assert manifest["huggingface_hub_version"] and manifest["downloaded_at"].endswith("+00:00")
    fetched = [p for m, p in server.requests if m == "GET" and "/resolve/" in p]
    assert sorted(fetched) == [f"/org/tiny/resolve/{COMMIT}/{p}" for p in NEEDED]  # the exact commit, once each
    assert server.hits(contains="/revision/") == 1  # resolved once, then only the commit is asked for
    assert not list(tmp_path.rglob("pytorch_model.bin")) and not list(tmp_path.rglob("README.md"))
    text = (tmp_path / "manifest.json").read_text()
    assert text == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_pinned_commit_then_model_dir_offline(tmp_path, files, hub):
    from safetensors.torch import load, load_file

    with hub() as server:
        proc, manifest = download(server.base_url, tmp_path, "org/tiny", COMMIT)
    assert proc.returncode == 0, proc.stderr
    assert manifest["requested_revision"] == COMMIT == manifest["resolved_revision"]
    # The server is gone and HF_HUB_OFFLINE=1: the cache alone serves the exact commit.
    proc = model_dir(tmp_path, manifest)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip()
    assert path.endswith(os.path.join("snapshots", COMMIT))
    weights, served = load_file(os.path.join(path, "model.safetensors")), load(files["model.safetensors"])
    assert weights.keys() == served.keys() and all((weights[k] == served[k]).all() for k in weights)


def test_model_dir_without_cache_is_a_clear_error(tmp_path):
    proc = model_dir(tmp_path, {"repo": "org/tiny", "resolved_revision": COMMIT, "files": []})
    assert proc.returncode != 0
    assert f"ModelDownloadError: org/tiny@{COMMIT} is not in the Hugging Face cache" in proc.stderr
    assert "rerun the workflow to download it again" in proc.stderr


def test_model_dir_names_missing_manifest_keys():
    from cotrepro.models.hub import ModelDownloadError, model_dir

    with pytest.raises(ModelDownloadError, match="needs 'repo' and 'resolved_revision'"):
        model_dir({"repo": "org/tiny"})


def test_repo_without_safetensors_is_refused(tmp_path, files):
    pickled_only = {p: d for p, d in files.items() if not p.endswith(".safetensors")}
    with HubServer({"org/old": {"commit": COMMIT, "files": pickled_only}}) as server:
        proc, _ = download(server.base_url, tmp_path, "org/old")
    assert (
        "ModelDownloadError: cotrepro loads safetensors weights only; org/old@main has none (files: README.md, "
        "config.json, pytorch_model.bin, tokenizer_config.json)" in proc.stderr
    )
    assert server.hits(contains="/resolve/") == 0


@pytest.mark.parametrize(
    "repo, revision, reason",
    [
        ("org/nope", "main", "repository not found (check the repo id; if it is private, set HF_TOKEN)"),
        ("org/tiny", "v9", "revision not found (check the branch, tag or commit)"),
    ],
)
def test_unknown_repo_or_revision_fails_at_once(tmp_path, hub, repo, revision, reason):
    with hub() as server:
        proc, _ = download(server.base_url, tmp_path, repo, revision)
    assert f"could not download {repo}@{revision} from {server.base_url} after 1 attempt(s): {reason}" in proc.stderr
    assert server.requests == [("GET", f"/api/models/{repo}/revision/{revision}?blobs=true")]


@pytest.mark.parametrize(
    "fail_match, status, counted, hits",
    [
        ("/revision/", 503, "/revision/", 3),  # the repo look-up, retried by cotrepro
        ("GET /org/tiny/resolve/", 503, "GET /org/tiny/resolve/", len(NEEDED) + 2),  # file downloads
        ("/tree/", 501, "/tree/", 2),  # which snapshot_download reports as "not in the local cache"
    ],
)
def test_transient_failures_are_retried(tmp_path, files, hub, fail_match, status, counted, hits):
    with hub(fail_first=2 if status == 503 else 1, fail_match=fail_match, fail_status=status) as server:
        proc, manifest = download(server.base_url, tmp_path, "org/tiny")
    assert proc.returncode == 0, proc.stderr
    assert f"failed (HTTP {status} " in proc.stderr and "retrying in" in proc.stderr
    assert sum(1 for m, p in server.requests if counted in f"{m} {p}") == hits
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        p: hashlib.sha256(files[p]).hexdigest() for p in NEEDED
    }


def test_persistent_server_errors_give_up_with_the_reason(tmp_path, hub):
    with hub(fail_first=100) as server:
        proc, _ = download(server.base_url, tmp_path, "org/tiny")
    assert (
        f"could not download org/tiny@main from {server.base_url} after 3 attempt(s): HTTP 503 Service Unavailable"
    ) in proc.stderr


def test_unreachable_hub_gives_up_with_the_reason(tmp_path, hub):
    with hub() as server:
        pass  # stopped: nothing listens on its port any more
    proc, _ = download(server.base_url, tmp_path, "org/tiny")
    assert f"could not download org/tiny@main from {server.base_url} after 3 attempt(s): ConnectError" in proc.stderr


def test_offline_mode_is_named_not_retried(tmp_path, hub):
    with hub() as server:
        proc = run_python(
            tmp_path,
            "from cotrepro.models.hub import download_model\ndownload_model('org/tiny')",
            server.base_url,
            offline=True,
        )
    assert "after 1 attempt(s): HF_HUB_OFFLINE is set; unset it to download models" in proc.stderr
    assert server.requests == []


def test_hub_server_speaks_the_tree_and_metadata_protocol(tmp_path):
    """The protocol parts the download path does not reach, through an explicit ``endpoint=``."""
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    data = {"config.json": b"{}", "sub/a.txt": b"a", "sub/deep/w.safetensors": b"w" * 10}
    with HubServer({"org/t": {"commit": COMMIT, "branch": "dev", "files": data}}) as server:
        api = HfApi(endpoint=server.base_url)
        top = api.list_repo_tree("org/t", revision="dev")
        assert [(type(e), e.path) for e in top] == [(RepoFolder, "sub"), (RepoFile, "config.json")]
        deep = {e.path: e for e in api.list_repo_tree("org/t", "sub", revision=COMMIT, recursive=True, expand=True)}
        assert sorted(deep) == ["sub/a.txt", "sub/deep", "sub/deep/w.safetensors"]
        weights = deep["sub/deep/w.safetensors"]
        assert weights.lfs.sha256 == hashlib.sha256(data["sub/deep/w.safetensors"]).hexdigest()
        assert weights.size == 10 and weights.last_commit.oid == COMMIT and deep["sub/a.txt"].lfs is None
        info = api.model_info("org/t", revision="dev", files_metadata=True)
        assert info.sha == COMMIT and {s.rfilename: s.size for s in info.siblings} == {
            p: len(d) for p, d in data.items()
        }
        local = hf_hub_download(
            "org/t", "sub/deep/w.safetensors", revision="dev", cache_dir=tmp_path, endpoint=server.base_url
        )
        assert Path(local).read_bytes() == data["sub/deep/w.safetensors"]
        assert os.path.basename(os.path.realpath(local)) == weights.lfs.sha256  # blob named by X-Linked-Etag
        meta = get_hf_file_metadata(f"{server.base_url}/org/t/resolve/dev/sub/deep/w.safetensors")
        assert (meta.commit_hash, meta.etag, meta.size) == (COMMIT, weights.lfs.sha256, 10)
        assert meta.xet_file_data is None  # plain HTTP, never Xet
        with pytest.raises(Exception, match="Entry Not Found"):
            hf_hub_download("org/t", "missing.json", revision="dev", cache_dir=tmp_path, endpoint=server.base_url)


@pytest.mark.parametrize("path", ["model.safetensors", "config.json"])
def test_a_corrupted_download_is_caught_by_the_hubs_hash_deleted_and_named(tmp_path, files, hub, path):
    data = files[path]
    damaged = bytes([data[0] ^ 1]) + data[1:]  # one bit, same size: only a hash can tell
    with hub(corrupt={path: damaged}) as server:
        proc, manifest = download(server.base_url, tmp_path, "org/tiny", "main")
    assert manifest is None and proc.returncode != 0
    kind = "sha256" if path.endswith(".safetensors") else "git blob id"
    got = hashlib.sha256(damaged).hexdigest() if kind == "sha256" else _blob_id(damaged)
    published = hashlib.sha256(data).hexdigest() if kind == "sha256" else _blob_id(data)
    assert f"downloaded {path} has {kind} {got}, but the Hub publishes {published}" in proc.stderr
    cached = list((tmp_path / "hub").rglob(path))
    assert cached == [], f"the damaged {path} stayed in the cache"
    with hub() as server:  # the next download fetches it again, whole
        proc, manifest = download(server.base_url, tmp_path, "org/tiny", "main")
    assert proc.returncode == 0, proc.stderr
    assert {f["path"]: f["sha256"] for f in manifest["files"]}[path] == hashlib.sha256(data).hexdigest()


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
