"""Model weights from the Hugging Face Hub: exact commit, safetensors only, a manifest of every file.

The endpoint and cache come from huggingface_hub's environment (HF_ENDPOINT, HF_HOME), so a
mirror or a local test server stands in for huggingface.co without code changes.
"""

from __future__ import annotations

import logging
import time
from fnmatch import fnmatch
from pathlib import Path

from cotrepro.io import write_json
from cotrepro.provenance import file_entries, utc_now

log = logging.getLogger("cotrepro.hub")

ALLOW_PATTERNS = [
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "tokenizer.model", "spiece.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja",
    "*.safetensors", "*.safetensors.index.json",
]
"""What a generation job needs; pickled weights (*.bin, *.pt), TF, Flax and ONNX files are never fetched."""


class ModelDownloadError(RuntimeError):
    """A model could not be downloaded; the message names the repository, revision and reason."""


def _wanted(path: str) -> bool:
    return any(fnmatch(path, p) for p in ALLOW_PATTERNS)


# Network failures by class name: huggingface_hub has used requests, httpx and httpx2 over its
# versions, and each names its transport errors alike.
_NETWORK_ERRORS = {"TransportError", "ConnectError", "ConnectionError", "TimeoutException", "Timeout",
                   "ReadTimeout", "RemoteProtocolError", "ReadError"}


def _transient(err: Exception) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, (ConnectionError, TimeoutError)) or _NETWORK_ERRORS & {c.__name__ for c in type(err).__mro__}:
        return True
    status = getattr(getattr(err, "response", None), "status_code", None)
    return isinstance(err, HfHubHTTPError) and (status is None or status >= 500 or status == 429)


def _with_retries(what: str, fn, retries: int, backoff_seconds: float):
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    for attempt in range(retries + 1):
        try:
            return fn()
        except (RepositoryNotFoundError, RevisionNotFoundError) as err:
            raise ModelDownloadError(f"{what}: {type(err).__name__}: {str(err).splitlines()[0]}") from err
        except Exception as err:  # noqa: BLE001 - classified just below
            if not _transient(err) or attempt == retries:
                raise ModelDownloadError(f"{what} failed after {attempt + 1} attempt(s): "
                                         f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
            wait = backoff_seconds * 2 ** attempt
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s", what, attempt + 1, err, wait)
            time.sleep(wait)


def download_model(repo_id: str, revision: str = "main", *, retries: int = 3, backoff_seconds: float = 2.0) -> dict:
    """Download a model's safetensors weights, config and tokenizer at ``revision``; return its manifest.

    The revision is resolved to a commit first and that exact commit is fetched, so the manifest's
    ``resolved_revision`` is what was used even when a branch moves during the download.
    """
    import huggingface_hub
    from huggingface_hub import HfApi, snapshot_download

    what = f"downloading {repo_id}@{revision} from {huggingface_hub.constants.ENDPOINT}"
    info = _with_retries(what, lambda: HfApi().model_info(repo_id, revision=revision), retries, backoff_seconds)
    files = [s.rfilename for s in (info.siblings or [])]
    if not any(f.endswith(".safetensors") for f in files):
        raise ModelDownloadError(f"cotrepro loads safetensors weights only; {repo_id}@{revision} has none "
                                 f"(files: {', '.join(sorted(files)) or 'none'})")
    commit = info.sha
    local = _with_retries(what, lambda: snapshot_download(repo_id, revision=commit, allow_patterns=ALLOW_PATTERNS),
                          retries, backoff_seconds)
    return {
        "repo": repo_id,
        "source": "hub",
        "requested_revision": revision,
        "resolved_revision": commit,
        "endpoint": huggingface_hub.constants.ENDPOINT,
        "files": [e for e in file_entries(Path(local)) if _wanted(e["path"])],
        "huggingface_hub_version": huggingface_hub.__version__,
        "downloaded_at": utc_now(),
    }


def model_dir(manifest: dict) -> Path:
    """The local snapshot of the manifest's exact commit, found without network access."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(manifest["repo"], revision=manifest["resolved_revision"], local_files_only=True,
                                 allow_patterns=ALLOW_PATTERNS)
    except LocalEntryNotFoundError as err:
        raise ModelDownloadError(
            f"{manifest['repo']}@{manifest['resolved_revision']} is not in the Hugging Face cache (HF_HOME); "
            "delete its manifest under resources/models/ and rerun to download it again") from err
    return Path(path)


def write_manifest(manifest: dict, path: Path) -> None:
    """Write a model manifest atomically."""
    write_json(path, manifest)
