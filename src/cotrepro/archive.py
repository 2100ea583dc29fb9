"""Generation archives: everything the GPU produced, in one file, to rebuild the rest without it.

An archive is a gzip-compressed tar of workflow paths (generations with their metadata, the
prepared tasks, the model manifests) plus an index, ``cotrepro-archive.json``, listing each
member's sha256 and which (model, task, method) generations it holds. Restoring checks every
file against the index, so a damaged archive is refused instead of silently scored.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from cotrepro.io import atomic_write_bytes, read_json, read_jsonl
from cotrepro.row_integrity import RowIntegrityError, checked_rows, unit_ids

INDEX = "cotrepro-archive.json"
FORMAT_VERSION = 1


class ArchiveError(ValueError):
    """An archive that cannot serve the requested run: missing, damaged or lacking generations."""


def _generation_key(path: str) -> tuple[str, str, str] | None:
    parts = Path(path).parts
    if len(parts) == 5 and parts[:2] == ("results", "generations") and parts[4].endswith(".jsonl"):
        return parts[2], parts[3], parts[4].removesuffix(".jsonl")
    return None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def _member(path: Path, root: Path) -> str:
    """The workflow path of ``path`` under ``root``, as the archive names it.

    Lexical (absolute and normalised, symlinks not followed): a workflow whose ``resources/`` or
    ``results/`` is a link to other storage (the container keeps ``resources/`` on its /data
    volume) names its files as the workflow does.
    """
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()


def pack(out_path: Path, files: Iterable[Path], root: Path) -> dict:
    """Write the archive of ``files`` (paths under ``root``) to ``out_path`` and return its index.

    Members are sorted and carry no timestamps, so the same files always give the same bytes.
    """
    root = Path(root)
    members = sorted({_member(f, root) for f in files})
    data = {m: (root / m).read_bytes() for m in members}
    index = {
        "format": FORMAT_VERSION,
        "files": {m: hashlib.sha256(b).hexdigest() for m, b in data.items()},
        "generations": sorted(list(k) for m in members if (k := _generation_key(m))),
    }
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add_bytes(tar, INDEX, json.dumps(index, indent=1, sort_keys=True).encode())
        for m in members:
            _add_bytes(tar, m, data[m])
    atomic_write_bytes(out_path, buffer.getvalue())
    return index


def read_index(path: Path) -> dict:
    """The index of the archive at ``path`` (the first member, so only the start is read)."""
    path = Path(path)
    if not path.is_file():
        # Relative paths are taken from Snakemake's working directory, which --directory moves.
        raise ArchiveError(
            f"generation archive {path} does not exist (looked for {path.resolve()}; a relative "
            "path is taken from the working directory)"
        )
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            member = tar.next()
            if member is None or member.name != INDEX:
                raise ArchiveError(f"{path} is not a cotrepro generation archive (no {INDEX} first)")
            index = json.load(tar.extractfile(member))
    except (tarfile.TarError, OSError, json.JSONDecodeError) as err:
        raise ArchiveError(f"generation archive {path} cannot be read: {err}") from None
    if index.get("format") != FORMAT_VERSION:
        raise ArchiveError(f"{path}: archive format {index.get('format')} is not {FORMAT_VERSION}")
    return index


def check_covers(index: dict, models: Sequence[str], units: Sequence[tuple[str, str]], where: str) -> None:
    """Fail, naming what is missing and what the archive has, unless it holds every requested
    generation: each model's (task, method) ``units``."""
    have = {tuple(g) for g in index["generations"]}
    missing = [(m, t, k) for m in models for t, k in units if (m, t, k) not in have]
    if missing:
        models_in = sorted({g[0] for g in have})
        tasks_in = sorted({g[1] for g in have})
        methods_in = sorted({g[2] for g in have})
        first = "/".join(missing[0])
        raise ArchiveError(
            f"{where} lacks {len(missing)} requested generation(s) (first: {first}); it holds models "
            f"{models_in}, tasks {tasks_in}, methods {methods_in}: set 'models', 'tasks' and 'methods' to a subset"
        )


def restore(archive: Path, outputs: Iterable[Path], root: Path) -> None:
    """Extract the members named by ``outputs`` (paths under ``root``), checking each one's sha256."""
    root = Path(root)
    wanted = {_member(o, root): Path(o) for o in outputs}
    index = read_index(archive)
    absent = sorted(set(wanted) - set(index["files"]))
    if absent:
        raise ArchiveError(f"{archive} has no {absent[0]} ({len(absent)} requested files missing)")
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            if member.name not in wanted:
                continue
            data = tar.extractfile(member).read()
            if hashlib.sha256(data).hexdigest() != index["files"][member.name]:
                raise ArchiveError(
                    f"{archive}: {member.name} does not match its sha256 in the index; the archive is damaged"
                )
            atomic_write_bytes(wanted[member.name], data)
    check_restored_rows(wanted)


def check_restored_rows(restored: dict[str, Path]) -> None:
    """Check every restored generations file's rows against its metadata and task, as scoring will
    (:func:`cotrepro.row_integrity.checked_rows`): an archive packed from damaged rows matches its
    own index, so the index alone cannot catch them."""
    for member, path in restored.items():
        key = _generation_key(member)
        if key is None:
            continue
        meta = restored.get(member.removesuffix(".jsonl") + ".meta.json")
        task = restored.get(f"results/tasks/{key[1]}.jsonl")
        if meta is None or task is None:
            continue
        try:
            checked_rows(path, unit_ids(read_json(meta), read_jsonl(task)), "")
        except RowIntegrityError as err:
            raise ArchiveError(
                f"{err} The archive holds damaged generations: pack it again from an intact run"
            ) from None
