"""Resumable generation of one (model, task, method): prompts in, one row per question out.

Rows are appended batch by batch to a journal (``{method}.partial.jsonl``) and flushed to disk,
so a killed job loses at most the batch in flight. Each row carries a key hashed from the
question id, the exact model input and a fingerprint of everything that shapes the output
(model revision, decoding settings, code); a rerun keeps the rows of the finished file and of the
journal whose key still matches and generates only the rest. :func:`finish` writes the final file
atomically in task order; the journal stays until :func:`drop_journal`, so that a job serving
several units keeps every row it made even if the workflow manager rolls a finished file back
when a later unit fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from cotrepro import methods, prompts
from cotrepro.generation.backend import Backend, Completion
from cotrepro.io import jsonl_line, write_jsonl


def digest(data) -> str:
    """A stable sha256 of JSON-serialisable data."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def journal_path(out_path: Path) -> Path:
    """Where a generation job journals its rows while it runs."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name.removesuffix(".jsonl") + ".partial.jsonl")


def _rows_with_keys(path: Path, wanted: set[str]) -> dict[str, dict]:
    """Key -> row of the JSON lines in ``path`` whose key is in ``wanted``; unreadable lines are skipped."""
    if not path.exists():
        return {}
    kept: dict[str, dict] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("key") in wanted:
                kept[row["key"]] = row
    return kept


def load_journal(path: Path, wanted: set[str]) -> dict[str, dict]:
    """Rows of an earlier, interrupted run whose key is in ``wanted``.

    A job killed mid-write can leave a torn last line; it is dropped, and the journal is
    rewritten with the kept rows so that appends continue from a clean file.
    """
    if not path.exists():
        return {}
    kept = _rows_with_keys(path, wanted)
    write_jsonl(path, kept.values())
    return kept


def _append(path: Path, rows: Sequence[dict]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(jsonl_line(r) + "\n" for r in rows))
        fh.flush()
        os.fsync(fh.fileno())


def _stage_fields(prefix: str, model_input: str, c: Completion, over_context: bool) -> dict:
    return {
        f"{prefix}prompt": model_input,
        f"{prefix}completion": c.text,
        f"{prefix}prompt_tokens": c.prompt_tokens,
        f"{prefix}generated_tokens": c.generated_tokens,
        f"{prefix}hit_max_new_tokens": c.hit_max_new_tokens,
        f"{prefix}stop_reason": c.stop_reason,
        f"{prefix}over_context": over_context,
    }


class _Generator:
    """Runs one stage of generation for a batch, honouring the context-overflow policy."""

    def __init__(self, backend: Backend, on_overflow: str):
        self.backend, self.on_overflow = backend, on_overflow

    def over(self, n_tokens: int) -> bool:
        limit = self.backend.context_length
        return limit is not None and n_tokens > limit

    def run(self, inputs: list[list[int]], max_new_tokens: int) -> list[tuple[Completion, bool]]:
        """Completions of encoded inputs, each with whether it is over the model's context."""
        flags = [self.over(len(ids)) for ids in inputs]
        todo = [i for i, f in enumerate(flags) if not (f and self.on_overflow == "skip")]
        done = dict(
            zip(todo, self.backend.generate([inputs[i] for i in todo], max_new_tokens) if todo else [], strict=True)
        )
        skipped = {
            i: Completion(text="", prompt_tokens=len(inputs[i]), generated_tokens=0, stop_reason="skipped")
            for i in range(len(inputs))
            if i not in done
        }
        return [(done[i] if i in done else skipped[i], flags[i]) for i in range(len(inputs))]


def run_generation(
    backend: Backend,
    records: Sequence[dict],
    *,
    method: str,
    exemplars: Sequence[dict],
    max_new_tokens: dict,
    on_overflow: str,
    out_path: Path,
    fingerprint: dict,
    progress_label: str = "",
    progress_file=None,
) -> tuple[list[dict], dict]:
    """Generate every record's completion(s) for ``method``, journaling beside ``out_path``.

    Rows whose key is unchanged are taken from ``out_path`` (an earlier run's finished file) or
    from the journal (an interrupted run's); only the others are generated. Returns the rows in
    record order and statistics; :func:`finish` then writes ``out_path``. ``max_new_tokens`` maps
    "reasoning" and "answer" to budgets; a two-stage method's second stage (zero-shot CoT's answer
    extraction) always uses the answer budget. Answer triggers follow each record's ``answer_format``.
    """
    out_path = Path(out_path)
    fp = digest(fingerprint)
    inputs = {
        r["id"]: backend.format_prompt(
            prompts.build_prompt(method, r["question"], answer_format=r["answer_format"], exemplars=exemplars)
        )
        for r in records
    }
    formats = {r["id"]: r["answer_format"] for r in records}
    keys = {rid: digest({"id": rid, "input": text, "fingerprint": fp}) for rid, text in inputs.items()}
    journal = journal_path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wanted = set(keys.values())
    rows = {row["id"]: row for row in _rows_with_keys(out_path, wanted).values()}
    reused = len(rows)
    for row in load_journal(journal, wanted).values():
        rows.setdefault(row["id"], row)  # where both hold a row, the finished file's (same key, same text)
    resumed = len(rows) - reused
    pending = [r["id"] for r in records if r["id"] not in rows]
    # Each input is tokenized once; the ids order the work, flag overflows and go to the model.
    encoded = dict(zip(pending, backend.encode([inputs[i] for i in pending]), strict=True))
    pending.sort(key=lambda i: -len(encoded[i]))  # longest first: memory trouble shows at once
    gen = _Generator(backend, on_overflow)
    spec = methods.get(method)
    budget1 = max_new_tokens[spec.first_stage_budget]
    if pending:
        # What the unit's first-stage inputs share (a few-shot prefix) is computed once; on a GPU
        # with batch_size auto the first unit also sizes the batches.
        backend.prepare([encoded[i] for i in pending], budget1)
    bar = tqdm(
        total=len(records),
        initial=len(rows),
        desc=progress_label or out_path.stem,
        unit="q",
        file=progress_file or sys.stderr,
        mininterval=2.0,
        ascii=True,
        dynamic_ncols=False,
    )
    started = time.perf_counter()
    pos = 0
    while pos < len(pending):
        chunk = pending[pos : pos + backend.batch_size]
        t0 = time.perf_counter()
        first = gen.run([encoded[i] for i in chunk], budget1)
        new_rows = [
            {"id": rid, "key": keys[rid], **_stage_fields("", inputs[rid], c, over)}
            for rid, (c, over) in zip(chunk, first, strict=True)
        ]
        if spec.two_stage:
            stage2_inputs = [
                prompts.zero_shot_cot_stage2(
                    row["prompt"], row["completion"], prompts.answer_trigger(formats[row["id"]])
                )
                for row in new_rows
            ]
            second = gen.run(backend.encode(stage2_inputs), max_new_tokens["answer"])
            for row, text, (c, over) in zip(new_rows, stage2_inputs, second, strict=True):
                row.update(_stage_fields("stage2_", text, c, over))
        per_row = (time.perf_counter() - t0) / len(chunk)
        for row in new_rows:
            row["seconds"] = round(per_row, 4)
        _append(journal, new_rows)
        rows.update((row["id"], row) for row in new_rows)
        bar.update(len(chunk))
        pos += len(chunk)
    bar.close()

    ordered = [rows[r["id"]] for r in records]
    return ordered, {
        "rows": len(ordered),
        "reused_rows": reused,
        "resumed_rows": resumed,
        "generated_rows": len(pending),
        "wall_seconds": round(time.perf_counter() - started, 3),
        # The generation time behind the file's rows, those reused from earlier runs included.
        "row_seconds": round(sum(r["seconds"] for r in ordered), 3),
        "generated_tokens": sum(r["generated_tokens"] + r.get("stage2_generated_tokens", 0) for r in ordered),
        "over_context_rows": sum(bool(r["over_context"] or r.get("stage2_over_context")) for r in ordered),
        "fingerprint": fp,
    }


def finish(out_path: Path, rows: Sequence[dict]) -> None:
    """Write the final generations file atomically (its journal stays until :func:`drop_journal`)."""
    write_jsonl(out_path, rows)


def drop_journal(out_path: Path) -> None:
    """Remove the journal of a generations file once nothing can roll the file back."""
    journal_path(out_path).unlink(missing_ok=True)
