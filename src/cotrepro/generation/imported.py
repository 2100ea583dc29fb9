"""The generations files of a published-completions source: each (task, method) unit's rows parsed
from the pinned log (:mod:`cotrepro.generation.published`), with the same metadata as a generated
unit's, so extraction, scoring, the report and the paper treat them as any model's."""

from __future__ import annotations

from pathlib import Path

from cotrepro.generation import meta, published
from cotrepro.io import read_jsonl, write_json, write_jsonl
from cotrepro.provenance import digest, utc_now


def import_unit(
    *,
    model: str,
    manifest_doc: dict,
    spec: dict,
    task: str,
    method: str,
    log: Path,
    task_records: Path,
    limit: int | None,
    rows_path: Path,
    meta_path: Path,
) -> dict:
    """Write one (task, method) unit's generation rows and metadata from the published log; return
    the metadata. Token counts are not in the logs and are recorded as 0."""
    started = utc_now()
    records = read_jsonl(task_records)[: limit or None]
    pinned = published.log_file(task, method)
    key = digest({"log": log.name, "sha256": pinned.sha256, "revision": manifest_doc["resolved_revision"]})
    rows = published.published_rows(published.parse_log(log.read_text(encoding="utf-8")), records, method, key)
    doc = meta.unit_meta(
        model=meta.model_fields(model, manifest_doc),
        task=meta.task_fields(task, task_records, len(records), limit),
        method=method,
        variant=None,
        prompt_format="plain",
        exemplars=None,
        max_new_tokens=published.MAX_TOKENS,
        on_overflow="n/a",
        sampling=None,
        backend=published.backend_description(spec),
        stats=meta.fixed_stats(rows, key),
        rows=rows,
        job_units=[f"{task}/{method}"],
        started_at=started,
        published_log=pinned.describe(),
    )
    write_json(meta_path, doc)
    write_jsonl(rows_path, rows)
    return doc
