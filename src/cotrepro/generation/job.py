"""One generation job of the workflow: load inputs, run the backend, write rows and metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cotrepro import methods
from cotrepro.generation import runner
from cotrepro.io import read_json, read_jsonl, write_json
from cotrepro.provenance import package_versions, utc_now

OUTPUT_SHAPING = (
    "prompts.py",
    "generation/backend.py",
    "generation/hf.py",
    "generation/engine.py",
    "generation/shared_prefix.py",
    "generation/runner.py",
    "generation/job.py",
)
"""The library modules whose code shapes a generated row, relative to the package. The generate
rule declares them as inputs, and their digest is part of every row's key, so a journal written by
other code is never resumed. The method's own declaration reaches both through its settings."""


@dataclass(frozen=True)
class GenerationJob:
    """Plain inputs of one (model, task, method) generation job."""

    model: str
    task: str
    method: str
    manifest: Path
    task_records: Path
    exemplars: Path | None
    settings: dict
    batch_size: int
    threads: int
    rows_path: Path
    meta_path: Path
    gpu_slots: tuple[str, ...] = ()  # the devices this job holds (gpu_slots.claim), empty on CPU


def code_digest() -> str:
    """sha256 over the source of the modules that shape generated text."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in OUTPUT_SHAPING:
        h.update((root / name).read_bytes())
    return h.hexdigest()


def model_dir(manifest: dict) -> Path:
    """The local directory holding a manifest's model files."""
    if manifest.get("source") == "tiny":
        return Path(manifest["path"])
    from cotrepro.models.hub import model_dir as hub_model_dir

    return hub_model_dir(manifest)


def select_exemplars(doc: dict | None, method: str, shots: int | None) -> list[dict]:
    """The first ``shots`` exemplars for a few-shot method (the whole set when None; none for
    zero-shot methods), or a clear error."""
    if not methods.get(method).few_shot:
        return []
    available = doc["exemplars"] if doc else []
    if not available or (shots is not None and len(available) < shots):
        name = doc["name"] if doc else "(none)"
        raise ValueError(
            f"exemplar set {name} has {len(available)} exemplars but config key 'shots' asks "
            f"for {shots}; lower 'shots' or choose another set under 'exemplars'"
        )
    return available[:shots] if shots is not None else list(available)


def run_job(job: GenerationJob) -> dict:
    """Run a generation job end to end and return its metadata."""
    import torch

    from cotrepro.generation.hf import HFBackend

    s = job.settings
    manifest = read_json(job.manifest)
    records = read_jsonl(job.task_records)[: s["limit"] or None]
    exemplar_doc = read_json(job.exemplars) if job.exemplars else None
    exemplars = select_exemplars(exemplar_doc, job.method, s["shots"])
    torch.set_num_threads(job.threads)
    started = utc_now()
    backend = HFBackend(
        model_dir(manifest),
        s["architecture"],
        device=s["device"],
        dtype=s["dtype"],
        batch_size=job.batch_size,
        stop=s["stop"],
        chat_template=s["chat_template"],
        max_context=s["max_context"],
        devices=max(1, len(job.gpu_slots)),
    )
    fingerprint = {
        "model": [manifest.get("repo"), manifest["resolved_revision"]],
        "settings": {k: v for k, v in s.items() if k != "limit"},
        "dtype": str(backend.dtype),
        "code": code_digest(),
    }
    rows, stats = runner.run_generation(
        backend,
        records,
        method=job.method,
        exemplars=exemplars,
        max_new_tokens=s["max_new_tokens"],
        on_overflow=s["on_overflow"],
        out_path=job.rows_path,
        fingerprint=fingerprint,
        progress_label=f"{job.model}/{job.task}/{job.method}",
    )
    task_provenance = job.task_records.with_name(f"{job.task}.provenance.json")
    meta = {
        "model": {
            "slug": job.model,
            "repo": manifest.get("repo"),
            "source": manifest.get("source", "hub"),
            "requested_revision": manifest.get("requested_revision"),
            "resolved_revision": manifest["resolved_revision"],
        },
        "task": {
            "key": job.task,
            "records": len(records),
            "limit": s["limit"],
            "provenance": read_json(task_provenance) if task_provenance.exists() else None,
        },
        "method": job.method,
        "prompt_format": "chat_template" if s["chat_template"] else "plain",
        "exemplars": None
        if not exemplars
        else {k: exemplar_doc[k] for k in ("name", "origin", "source", "sha256")} | {"shots": len(exemplars)},
        "max_new_tokens": s["max_new_tokens"],
        "on_overflow": s["on_overflow"],
        "backend": backend.describe(),
        "gpu_slots": list(job.gpu_slots),
        "stats": stats,
        "example": {k: rows[0][k] for k in ("prompt", "stage2_prompt") if rows and k in rows[0]},
        "started_at": started,
        "finished_at": utc_now(),
        "versions": package_versions(),
    }
    # Metadata first: a job killed between the two writes still has its journal to resume from.
    write_json(job.meta_path, meta)
    runner.finish(job.rows_path, rows)
    return meta
