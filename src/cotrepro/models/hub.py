"""Model weights from the Hugging Face Hub: exact commit, safetensors only, a manifest of every file.

The endpoint and cache come from huggingface_hub's environment (HF_ENDPOINT, HF_HOME), read
when huggingface_hub is first imported, so a mirror or a local test server stands in for
huggingface.co without code changes.
"""

from __future__ import annotations

import hashlib
import logging
from fnmatch import fnmatch
from pathlib import Path

from cotrepro.io import retry_download, sha256_file, write_json
from cotrepro.provenance import utc_now

log = logging.getLogger("cotrepro.models.hub")

WEIGHT_PATTERNS = ["*.safetensors", "*.safetensors.index.json"]
"""Weights are loaded from safetensors only: pickled (*.bin, *.pt), TF, Flax and ONNX files can run
code or are unused."""

ALLOW_PATTERNS = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "spiece.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
    *WEIGHT_PATTERNS,
]
"""Every file a generation job needs, and nothing else, is downloaded."""

# Transport failures by class name: huggingface_hub has used requests, httpx and httpx2 over its
# versions, and their connection and time-out errors go by these names.
_NETWORK_ERRORS = {"NetworkError", "TimeoutException", "RemoteProtocolError", "ConnectionError", "Timeout"}


class ModelDownloadError(RuntimeError):
    """A model could not be downloaded or found; the message names the repository, revision and what to do."""


def download_model(repo_id: str, revision: str = "main", *, retries: int = 3, backoff_seconds: float = 2.0) -> dict:
    """Download a model's safetensors weights, config and tokenizer at ``revision``; return its manifest.

    The revision is resolved to a commit first and that exact commit is fetched, so the manifest's
    ``resolved_revision`` is what was used even when a branch moves meanwhile. Connection errors
    and HTTP 408/429/5xx are retried ``retries`` more times, waiting ``backoff_seconds * 2**(attempt - 1)``.
    """
    import huggingface_hub
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import filter_repo_objects

    endpoint = huggingface_hub.constants.ENDPOINT
    what = f"{repo_id}@{revision} from {endpoint}"
    if not endpoint.startswith(("http://", "https://")):
        raise ModelDownloadError(f"cannot download {what}: HF_ENDPOINT must start with http:// or https://")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    # files_metadata: each file's published hashes (LFS sha256, git blob id), checked after download.
    info = _retrying(
        what, lambda: HfApi().model_info(repo_id, revision=revision, files_metadata=True), retries, backoff_seconds
    )
    listed = sorted(s.rfilename for s in info.siblings or [])
    if not any(fnmatch(f, "*.safetensors") for f in listed):
        shown = ", ".join(listed[:20]) + (f", ... ({len(listed) - 20} more)" if len(listed) > 20 else "")
        raise ModelDownloadError(
            f"cotrepro loads safetensors weights only; {repo_id}@{revision} has none (files: {shown or 'none'})"
        )
    commit = info.sha
    local = Path(
        _retrying(
            what,
            lambda: snapshot_download(repo_id, revision=commit, allow_patterns=ALLOW_PATTERNS),
            retries,
            backoff_seconds,
        )
    )
    wanted = sorted(filter_repo_objects(listed, allow_patterns=ALLOW_PATTERNS))
    missing = [p for p in wanted if not (local / p).is_file()]
    if missing:
        raise ModelDownloadError(
            f"downloading {what} left {', '.join(missing)} missing from {local}; run the download again"
        )
    files = [{"path": p, "size": (local / p).stat().st_size, "sha256": sha256_file(local / p)} for p in wanted]
    verify_against_hub(files, {s.rfilename: s for s in info.siblings or []}, local, f"{repo_id}@{commit}")
    return {
        "repo": repo_id,
        "source": "hub",
        "requested_revision": revision,
        "resolved_revision": commit,
        "endpoint": endpoint,
        "files": files,
        "huggingface_hub_version": huggingface_hub.__version__,
        "downloaded_at": utc_now(),
    }


def git_blob_id(path: Path) -> str:
    """The git object id of a file's bytes (sha1 of ``blob {size}\\0`` and the bytes), as the Hub lists small files."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_against_hub(files: list[dict], siblings: dict, local: Path, what: str) -> None:
    """Compare each downloaded file with the hash the Hub publishes for it: the sha256 of an LFS
    file (its LFS object id; weights are LFS files), the git blob id of any other.

    A mismatch deletes the file from the cache (the snapshot's link and the blob it points to), so
    that the next download fetches it again, and raises ModelDownloadError naming the file and both hashes.
    """
    for f in files:
        sibling = siblings.get(f["path"])
        lfs = getattr(sibling, "lfs", None)
        if lfs is not None:
            kind, published, got = "sha256", lfs.sha256, f["sha256"]
        elif getattr(sibling, "blob_id", None):
            kind, published, got = "git blob id", sibling.blob_id, git_blob_id(local / f["path"])
        else:
            continue  # the Hub published no hash for it (an older mirror): the sha256 is still recorded
        if published != got:
            link = local / f["path"]
            link.resolve().unlink(missing_ok=True)
            link.unlink(missing_ok=True)
            raise ModelDownloadError(
                f"{what}: downloaded {f['path']} has {kind} {got}, but the Hub publishes {published}; "
                "the file was deleted, run the download again (if it persists, the mirror serves other bytes)"
            )


def model_dir(manifest: dict) -> Path:
    """The local snapshot directory of the manifest's exact commit, found without network access."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not {"repo", "resolved_revision"} <= manifest.keys():
        raise ModelDownloadError(
            f"a model manifest needs 'repo' and 'resolved_revision'; this one has {sorted(manifest)}"
        )
    repo, commit = manifest["repo"], manifest["resolved_revision"]
    rerun = (
        "delete its manifest under resources/models/ and rerun the workflow to download it again "
        f"(HF_HOME must be the same as when it was downloaded; the cache now is {constants.HF_HUB_CACHE})"
    )
    try:
        path = Path(snapshot_download(repo, revision=commit, local_files_only=True, allow_patterns=ALLOW_PATTERNS))
    except LocalEntryNotFoundError as err:
        raise ModelDownloadError(f"{repo}@{commit} is not in the Hugging Face cache; {rerun}") from err
    damaged = [
        f["path"]
        for f in manifest.get("files", [])
        if not (path / f["path"]).is_file() or (path / f["path"]).stat().st_size != f["size"]
    ]
    if damaged:
        raise ModelDownloadError(
            f"{repo}@{commit} in the Hugging Face cache lacks or has other sizes of {', '.join(damaged)}; {rerun}"
        )
    return path


def write_manifest(manifest: dict, path: Path) -> None:
    """Write a model manifest as JSON (sorted keys, indented), atomically."""
    write_json(path, manifest)


def _retrying(what: str, fn, retries: int, backoff_seconds: float):
    """``fn()``, retried while its failure may pass; any other failure becomes a ModelDownloadError."""
    # Every exception is handled: huggingface_hub's errors come from several libraries, sorted by _diagnose.
    return retry_download(
        fn,
        what=what,
        diagnose=_diagnose,
        error=ModelDownloadError,
        retries=retries,
        backoff_seconds=backoff_seconds,
        log=log,
    )


def _diagnose(err: BaseException) -> tuple[bool, str]:
    """Whether ``err`` may pass on another attempt, and what to tell the user.

    The whole cause chain is read: snapshot_download reports a Hub outage as "file not in the
    local cache", with the HTTP or connection error as its cause.
    """
    from huggingface_hub import errors

    permanent = [  # in this order: a gated repo is a RepositoryNotFoundError, offline mode a ConnectionError
        (errors.OfflineModeIsEnabled, "HF_HUB_OFFLINE is set; unset it to download models"),
        (errors.GatedRepoError, "the repository is gated: accept its terms on the Hub, then set HF_TOKEN"),
        (errors.RepositoryNotFoundError, "repository not found (check the repo id; if it is private, set HF_TOKEN)"),
        (errors.RevisionNotFoundError, "revision not found (check the branch, tag or commit)"),
    ]
    for cause in _chain(err):
        reason = next((reason for kind, reason in permanent if isinstance(cause, kind)), None)
        if reason:
            return False, reason
        response = getattr(cause, "response", None)
        if isinstance(cause, errors.HfHubHTTPError) and response is not None:
            status = response.status_code
            reason = f"HTTP {status} {getattr(response, 'reason_phrase', '')}".rstrip()
            return status >= 500 or status in (408, 429), reason
        names = {c.__name__ for c in type(cause).__mro__}
        if isinstance(cause, (ConnectionError, TimeoutError)) or names & _NETWORK_ERRORS:
            return True, f"{type(cause).__name__}: {cause}"
    return False, f"{type(err).__name__}: {err}"


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


GATED_HOWTO = (
    "log in to the Hugging Face Hub, open each model's page and accept its licence, create a read "
    "token (Settings > Access Tokens) and export HF_TOKEN=hf_... before running the workflow"
)


def gated_not_downloaded(specs: dict, models: list[str], manifests: Path) -> list[str]:
    """The repositories of the gated hub models among ``models`` (``model_specs`` entries) that have no
    manifest in ``manifests`` yet, i.e. that a run would download."""
    return sorted(
        {
            specs[m]["repo"]
            for m in models
            if specs[m]["source"] == "hub" and specs[m].get("gated") and not (Path(manifests) / f"{m}.json").exists()
        }
    )


def check_gated_access(repos: list[str]) -> None:
    """Check, before any job runs, that the token huggingface_hub will use (HF_TOKEN, else a saved
    login) exists, is valid (the Hub's whoami) and may download each gated repository in ``repos``
    (the Hub's auth-check); raise one ModelDownloadError that says what to do otherwise."""
    if not repos:
        return
    import huggingface_hub
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    names = ", ".join(repos)
    token = get_token()
    if not token:
        raise ModelDownloadError(f"{names}: gated on the Hugging Face Hub and HF_TOKEN is not set; {GATED_HOWTO}")
    api = HfApi(token=token)
    endpoint = huggingface_hub.constants.ENDPOINT
    try:
        user = api.whoami()["name"]
    except HfHubHTTPError as err:
        if err.response is not None and err.response.status_code == 401:
            raise ModelDownloadError(
                f"{names}: gated on the Hugging Face Hub and HF_TOKEN is invalid (the Hub at {endpoint} "
                f"refused it); {GATED_HOWTO}"
            ) from None
        raise ModelDownloadError(f"could not check HF_TOKEN with the Hub at {endpoint}: {err}") from None
    except Exception as err:  # a connection failure comes from requests, httpx or httpx2: name it
        raise ModelDownloadError(f"could not reach the Hub at {endpoint} to check HF_TOKEN: {err}") from None
    for repo in repos:
        try:
            api.auth_check(repo)
        except GatedRepoError:
            raise ModelDownloadError(
                f"{repo}: HF_TOKEN (user {user}) has no access yet; accept the licence at {endpoint}/{repo} "
                "with that account (and wait for the approval), then rerun"
            ) from None
        except RepositoryNotFoundError:
            raise ModelDownloadError(f"{repo}: not found on the Hub at {endpoint} for user {user}") from None
