"""A model's files checked against its manifest's sha256 before a job loads them.

Hashing a 14 GB model takes a minute, so a file's check is remembered by its size and modification
time (``resources/models/{model}.verified.json``, beside the manifest): a file that neither grew,
shrank nor was written since it was last found good is not hashed again. A corrupted or missing
file stops the job with one line naming the model, the files and the remedy, before anything is
generated; a damaged file of a hub model is deleted from the Hugging Face cache so that the
download it asks for fetches it again.
"""

from __future__ import annotations

from pathlib import Path

from cotrepro.io import read_json, sha256_file, write_json


class WeightsError(RuntimeError):
    """A model's files differ from its manifest; the message is one line with the remedy."""


def cache_path(manifest_path: Path) -> Path:
    """Where the size and mtime of a manifest's files, last found good, are remembered."""
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(manifest_path.name.removesuffix(".json") + ".verified.json")


def _read_cache(path: Path) -> dict:
    try:
        cache = read_json(path)
    except (OSError, ValueError):
        return {}  # absent or unreadable: every file is hashed again
    return cache if isinstance(cache, dict) else {}


def _stamp(path: Path, sha256: str) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, sha256]


def damaged_files(directory: Path, files: list[dict], cache: dict) -> tuple[list[str], dict]:
    """The manifest ``files`` that are missing from ``directory`` or differ from their sha256, and
    the cache updated with the files found good (each hashed only if its size or mtime changed)."""
    damaged, good = [], {}
    for f in files:
        path = directory / f["path"]
        if not path.is_file():
            damaged.append(f["path"])
            continue
        if cache.get(f["path"]) == _stamp(path, f["sha256"]):
            good[f["path"]] = cache[f["path"]]
            continue
        if path.stat().st_size != f["size"] or sha256_file(path) != f["sha256"]:
            damaged.append(f["path"])
        else:
            good[f["path"]] = _stamp(path, f["sha256"])
    return damaged, good


def verify_model_files(model: str, manifest: dict, manifest_path: Path) -> Path | None:
    """The directory of the manifest's model files once every file matches its sha256 (None for a
    served model, whose files are the server's); otherwise
    :class:`WeightsError` naming the files and how to rebuild (tiny) or download (hub) them again."""
    from cotrepro.models import model_dir

    source = manifest.get("source", "hub")
    if source == "served":  # nothing on this machine to check: the weights live behind the server
        return None
    remedy = f"run again with --forcerun {manifest_path} to {'rebuild' if source == 'tiny' else 'download'} it"
    directory = Path(manifest["path"]) if source == "tiny" else model_dir(manifest)
    if not directory.is_dir():
        raise WeightsError(f"model {model}: its files' folder {directory} is missing; nothing was generated; {remedy}")
    cache_file = cache_path(manifest_path)
    damaged, good = damaged_files(directory, manifest.get("files", []), _read_cache(cache_file))
    write_json(cache_file, good)
    if damaged:
        if source != "tiny":
            for name in damaged:  # the cache's link and the blob it points to, so the download refetches it
                link = directory / name
                if link.exists():
                    link.resolve().unlink(missing_ok=True)
                link.unlink(missing_ok=True)
        shown = ", ".join(damaged[:5]) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        raise WeightsError(
            f"model {model}: {shown} in {directory} missing or not matching the manifest's sha256; "
            f"nothing was generated; {remedy}"
        )
    return directory


def tiny_model_warnings(models: list[str], manifests: Path) -> list[str]:
    """One line for each built tiny model (its manifest under ``manifests``) whose folder is gone or
    whose files differ from the manifest, naming the remedy. Snakemake does not notice either: it
    plans nothing for a missing intermediate while what follows it is up to date."""
    lines = []
    for model in models:
        path = Path(manifests) / f"{model}.json"
        if not path.is_file():
            continue
        try:
            verify_model_files(model, read_json(path), path)
        except WeightsError as err:
            lines.append(f"warning: {err}")
    return lines
