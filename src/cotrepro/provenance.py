"""Where an artifact came from: package versions, platform, timestamps, file checksums."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

from cotrepro.io import sha256_file

PACKAGES = (
    "cotrepro",
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "huggingface_hub",
    "safetensors",
    "snakemake",
    "numpy",
    "pandas",
)


def digest(data) -> str:
    """A stable sha256 of JSON-serialisable data (keys sorted, text as UTF-8)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape results (None when absent), plus Python's."""
    out: dict[str, str | None] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def utc_now() -> str:
    """The current time, ISO-8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def file_entries(root: Path) -> list[dict]:
    """``{path, size, sha256}`` of every file below ``root`` (paths relative to it, sorted)."""
    root = Path(root)
    return [
        {"path": p.relative_to(root).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
