"""One generation job of the workflow: a model loaded once serves every (task, method) unit of the
run; each unit's rows and metadata are written to its own files."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cotrepro import methods
from cotrepro.code_digest import installed_code_digest
from cotrepro.generation import meta, runner
from cotrepro.generation.served_job import job_server
from cotrepro.io import read_json, read_jsonl, write_json
from cotrepro.provenance import utc_now
from cotrepro.variants import order_exemplars

log = logging.getLogger("cotrepro.generation")

BACKEND_SETTINGS = ("backend", "architecture", "max_context", "dtype", "device", "stop", "served")
"""The unit settings that configure the loaded model rather than a unit's prompts. They are per
model, so every unit of a job has the same; the job checks it, since it loads the model once.
(``chat_template``, the prompt format, may differ: a prompt-format variant's units use the chat
format through a view of the same loaded model.)"""


@dataclass(frozen=True)
class GenerationUnit:
    """One (task, method) of a generation job: its inputs, its settings and its two output files."""

    task: str
    method: str
    task_records: Path
    exemplars: Path | None
    settings: dict
    rows_path: Path
    meta_path: Path

    @property
    def label(self) -> str:
        return f"{self.task}/{self.method}"


@dataclass(frozen=True)
class GenerationJob:
    """Plain inputs of one model's generation job: the model, loaded once, and the units it serves."""

    model: str
    manifest: Path
    units: tuple[GenerationUnit, ...]
    batch_size: int | str  # a number or "auto"
    threads: int
    gpu_slots: tuple[str, ...] = ()  # the devices this job holds (gpu_slots.claim), empty on CPU
    served: dict | None = None  # backend served: connection settings (served_spec.served_job_settings)
    server_log: Path | None = None  # where a server the job starts writes its output


def unit_fingerprint(manifest: dict, settings: dict, backend) -> dict:
    """Everything that shapes a unit's rows, hashed into every row's key: the model revision, the
    unit's settings (its question limit aside: a row does not depend on how many others there are),
    the dtype the backend resolved and the code. The batch size is not in it (speed, not results)."""
    return {
        "model": [manifest.get("repo"), manifest["resolved_revision"]],
        "settings": {k: v for k, v in settings.items() if k != "limit"},
        "dtype": str(backend.dtype),
        "code": installed_code_digest(),
        # A served model's identity as its server reports it: another model behind the name regenerates.
        **({"server": backend.fingerprint()} if hasattr(backend, "fingerprint") else {}),
    }


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


def prompt_arguments(settings: dict, exemplars: list[dict]) -> dict:
    """The runner's prompt arguments for a unit's settings (:func:`cotrepro.plan.unit_settings`):
    the exemplars in the unit's order and its reasoning trigger."""
    prompt = settings["prompt"]
    return {
        "exemplars": order_exemplars(exemplars, prompt["exemplar_order"], prompt["exemplar_order_seed"]),
        "trigger": prompt["trigger"],
    }


def backend_settings(units: tuple[GenerationUnit, ...] | list[GenerationUnit]) -> dict:
    """The settings of the one backend a job builds: those of :data:`BACKEND_SETTINGS`, which must
    be the same in every unit, or a clear error."""
    if not units:
        raise ValueError("a generation job needs at least one (task, method) unit")
    first = units[0]
    for unit in units[1:]:
        differ = [k for k in BACKEND_SETTINGS if unit.settings.get(k) != first.settings.get(k)]
        if differ:
            raise ValueError(
                f"units {first.label} and {unit.label} of one generation job differ in {', '.join(differ)}; "
                "these configure the model, which a job loads once, so they must be the same for all its units"
            )
    return {k: first.settings.get(k) for k in BACKEND_SETTINGS}


def load_unit_backend(
    settings: dict, manifest: dict, batch_size: int | str, *, devices: int = 1, served: dict | None = None
):
    """The backend a unit's settings (those of :data:`BACKEND_SETTINGS`) configure, with the
    manifest's model loaded, generating ``batch_size`` rows at a time (``served``: a served model's
    connection, from :func:`cotrepro.generation.served_job.job_server`)."""
    from cotrepro.engine.loader import load_backend
    from cotrepro.generation.served_job import local_model_dir

    return load_backend(
        settings["backend"],
        local_model_dir(manifest),
        settings["architecture"],
        device=settings["device"],
        dtype=settings["dtype"],
        batch_size=batch_size,
        stop=settings["stop"],
        chat_template=settings["chat_template"],
        max_context=settings["max_context"],
        devices=devices,
        **({"served": served} if served is not None else {}),
    )


@dataclass(frozen=True)
class _Inputs:
    """A unit's inputs, read before the model loads so that bad input fails before the expensive part."""

    records: list[dict]
    exemplar_doc: dict | None
    exemplars: list[dict]


def _read_inputs(unit: GenerationUnit) -> _Inputs:
    records = read_jsonl(unit.task_records)[: unit.settings["limit"] or None]
    doc = read_json(unit.exemplars) if unit.exemplars else None
    return _Inputs(records, doc, select_exemplars(doc, unit.method, unit.settings["shots"]))


def _unit_backend(backend, unit: GenerationUnit):
    """The loaded backend in the unit's prompt format, or None when the unit asks for the chat
    format and the model's tokenizer has none (a prompt-format variant that does not apply)."""
    chat = unit.settings["chat_template"]
    if chat == backend.chat_template:
        return backend
    if chat and not backend.tokenizer.chat_template:
        return None
    return backend.in_prompt_format(chat)


def run_job(job: GenerationJob) -> list[dict]:
    """Load the job's model once, generate every unit (reusing the rows whose key is unchanged) and
    return the units' metadata. Journals are dropped only once every unit's files are written."""
    import torch

    shared = backend_settings(job.units)
    manifest = read_json(job.manifest)
    inputs = [_read_inputs(unit) for unit in job.units]
    torch.set_num_threads(job.threads)
    log.info("%s: loading the model (once, for %d units)", job.model, len(job.units))
    loaded_at, t0 = utc_now(), time.perf_counter()
    # Loaded in the prompt format of the job's first unit (the model's own); a prompt-format
    # variant's units get a view of it in the other format (_unit_backend).
    chat = {"chat_template": job.units[0].settings["chat_template"]}
    with job_server(job.served, manifest, job.server_log) as served:
        backend = load_unit_backend(
            shared | chat, manifest, job.batch_size, devices=max(1, len(job.gpu_slots)), served=served
        )
        load = {"count": 1, "seconds": round(time.perf_counter() - t0, 3), "at": loaded_at, "pid": os.getpid()}
        log.info("%s: model loaded in %.1f s", job.model, load["seconds"])
        metas = _run_units(job, inputs, backend, manifest, load)
    for unit in job.units:
        runner.drop_journal(unit.rows_path)
    generated = [u.label for u, m in zip(job.units, metas, strict=True) if m["stats"]["generated_rows"]]
    log.info(
        "%s: model loaded once; %d units, %d with rows generated (%s), %d reused whole",
        job.model,
        len(job.units),
        len(generated),
        ", ".join(generated) or "none",
        len(job.units) - len(generated),
    )
    return metas


def _run_units(job: GenerationJob, inputs: list, backend, manifest: dict, load: dict) -> list[dict]:
    """Every unit of the job with the loaded backend, in order; their metadata."""
    from cotrepro.engine.sampling import Sampling

    check = getattr(backend, "check_sampling", None)  # a served model refuses what its server cannot do
    if check:
        for unit in job.units:
            check(Sampling(**unit.settings["sampling"]) if unit.settings.get("sampling") else None)
    metas = []
    for unit, unit_inputs in zip(job.units, inputs, strict=True):
        meta = _run_unit(job, unit, unit_inputs, backend, manifest, load)
        st = meta["stats"]
        log.info(
            "%s %s: %s, %d rows (%d reused, %d resumed from the journal, %d generated) in %.1f s",
            job.model,
            unit.label,
            "reused" if st["generated_rows"] == 0 else "generated",
            st["rows"],
            st["reused_rows"],
            st["resumed_rows"],
            st["generated_rows"],
            st["wall_seconds"],
        )
        metas.append(meta)
    return metas


def _run_unit(job: GenerationJob, unit: GenerationUnit, inputs: _Inputs, backend, manifest: dict, load: dict) -> dict:
    """Generate one unit with the loaded backend; write its metadata, then its rows."""
    from cotrepro.engine.sampling import Sampling

    s = unit.settings
    started = utc_now()
    model = meta.model_fields(job.model, manifest)
    job_units = [u.label for u in job.units]
    backend = _unit_backend(backend, unit)
    if backend is None:
        doc = meta.not_applicable_meta(
            model=model,
            task=unit.task,
            method=unit.method,
            variant=s.get("variant"),
            reason="the model's tokenizer has no chat template",
            model_load=load,
            job_units=job_units,
        )
        write_json(unit.meta_path, doc)
        runner.finish(unit.rows_path, [])
        return doc
    rows, stats = runner.run_generation(
        backend,
        inputs.records,
        method=unit.method,
        max_new_tokens=s["max_new_tokens"],
        on_overflow=s["on_overflow"],
        out_path=unit.rows_path,
        fingerprint=unit_fingerprint(manifest, s, backend),
        progress_label=f"{job.model}/{unit.label}",
        sampling=Sampling(**s["sampling"]) if s.get("sampling") else None,
        **prompt_arguments(s, inputs.exemplars),
    )
    doc = meta.unit_meta(
        model=model,
        task=meta.task_fields(unit.task, unit.task_records, len(inputs.records), s["limit"]),
        method=unit.method,
        variant=s.get("variant"),
        prompt_format="chat_template" if s["chat_template"] else "plain",
        exemplars=meta.exemplar_fields(inputs.exemplar_doc, inputs.exemplars),
        max_new_tokens=s["max_new_tokens"],
        on_overflow=s["on_overflow"],
        sampling=s.get("sampling"),
        backend=backend.describe(),
        stats=stats,
        rows=rows,
        job_units=job_units,
        started_at=started,
        gpu_slots=job.gpu_slots,
        model_load=load,
    )
    # Metadata first: a job killed between the two writes still has its journal to resume from.
    write_json(unit.meta_path, doc)
    runner.finish(unit.rows_path, rows)
    return doc
