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

import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from cotrepro import methods, prompts
from cotrepro.engine.backend import Backend
from cotrepro.engine.completion import Completion
from cotrepro.engine.memory_guard import REMEDY, SKIP_HINT, PromptOverMemory
from cotrepro.io import jsonl_line, write_jsonl
from cotrepro.provenance import digest
from cotrepro.rows import row_generated_tokens, row_over_context

if TYPE_CHECKING:
    from cotrepro.engine.sampling import Sampling

log = logging.getLogger(__name__)


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
        **({f"{prefix}logprob": c.logprob} if c.logprob is not None else {}),
    }


class _Generator:
    """Runs one stage of generation for a batch, honouring the overflow policy: an input over the
    model's context is generated anyway or skipped, flagged either way; one that the CPU memory
    guard says would not fit the job's memory (prompt and budget) is skipped the same way, or with
    ``generate`` stops the job with the guard's one line (generating it would have the kernel kill
    the job)."""

    def __init__(self, backend: Backend, on_overflow: str):
        self.backend, self.on_overflow = backend, on_overflow

    def over(self, n_tokens: int) -> bool:
        limit = self.backend.context_length
        return limit is not None and n_tokens > limit

    def _to_generate(self, inputs: list[list[int]], max_new_tokens: int) -> tuple[list[bool], dict[int, str]]:
        """Each input's overflow flag, and why each input left out is left out (its stop reason):
        over the context when the policy is to skip, over the memory."""
        over_memory = getattr(self.backend, "over_memory", lambda tokens: None)
        flags, left_out = [], {}
        for i, ids in enumerate(inputs):
            too_big = over_memory(len(ids) + max_new_tokens)
            if too_big and self.on_overflow != "skip":
                raise PromptOverMemory(f"{too_big}; {REMEDY}, {SKIP_HINT}")
            flags.append(self.over(len(ids)) or bool(too_big))
            if too_big:
                log.warning("%s: skipped (generation.on_overflow: skip)", too_big)
                left_out[i] = OVER_MEMORY
            elif flags[i] and self.on_overflow == "skip":
                left_out[i] = "skipped"
        return flags, left_out

    def run(self, inputs: list[list[int]], max_new_tokens: int) -> list[tuple[Completion, bool]]:
        """Completions of encoded inputs, each with whether it is over the model's context."""
        flags, left_out = self._to_generate(inputs, max_new_tokens)
        todo = [i for i in range(len(inputs)) if i not in left_out]
        got = self.backend.generate([inputs[i] for i in todo], max_new_tokens) if todo else []
        done = dict(zip(todo, got, strict=True))
        return [(done[i] if i in done else _skipped(len(ids), left_out[i]), flags[i]) for i, ids in enumerate(inputs)]

    def sample(
        self, inputs: list[list[int]], names: list[str], max_new_tokens: int, sampling: Sampling
    ) -> list[tuple[list[Completion], bool]]:
        """Sampled paths of encoded inputs (``sampling.paths`` each), with whether each input is over
        the model's context; a skipped input's paths are all skipped."""
        flags, left_out = self._to_generate(inputs, max_new_tokens)
        todo = [i for i in range(len(inputs)) if i not in left_out]
        got = self.backend.sample([inputs[i] for i in todo], [names[i] for i in todo], max_new_tokens, sampling)
        done = dict(zip(todo, got, strict=True))
        return [
            (done[i] if i in done else [_skipped(len(ids), left_out[i])] * sampling.paths, flags[i])
            for i, ids in enumerate(inputs)
        ]


OVER_MEMORY = "over_memory"
"""The stop reason of an input skipped for not fitting the job's memory. Such a row is never reused:
a later run, with more memory, generates it (``--forcerun`` on its file)."""


def _skipped(prompt_tokens: int, reason: str) -> Completion:
    """The completion of an input left out (over the context and skipped, or over the memory):
    nothing generated."""
    return Completion(text="", prompt_tokens=prompt_tokens, generated_tokens=0, stop_reason=reason)


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
    sampling: Sampling | None = None,
    trigger: str = prompts.COT_TRIGGER,
) -> tuple[list[dict], dict]:
    """Generate every record's completion(s) for ``method``, journaling beside ``out_path``.

    Rows whose key is unchanged are taken from ``out_path`` (an earlier run's finished file) or
    from the journal (an interrupted run's); only the others are generated. Returns the rows in
    record order and statistics; :func:`finish` then writes ``out_path``. ``max_new_tokens`` maps
    "reasoning" and "answer" to budgets; a two-stage method's second stage (zero-shot CoT's answer
    extraction) always uses the answer budget. Answer triggers follow each record's ``answer_format``.
    A self-consistency method needs ``sampling``: its row holds the question's prompt once and its
    ``paths`` (each a completion, and for a two-stage method its greedy answer step). ``trigger`` is
    a reasoning method's trigger sentence (a trigger-study variant's own).
    """
    out_path = Path(out_path)
    fp = digest(fingerprint)
    spec = methods.get(method)
    inputs = {
        r["id"]: backend.format_prompt(
            prompts.build_prompt(
                spec, r["question"], answer_format=r["answer_format"], exemplars=exemplars, trigger=trigger
            )
        )
        for r in records
    }
    formats = {r["id"]: r["answer_format"] for r in records}
    keys = {rid: digest({"id": rid, "input": text, "fingerprint": fp}) for rid, text in inputs.items()}
    journal = journal_path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wanted = set(keys.values())
    rows = {row["id"]: row for row in _rows_with_keys(out_path, wanted).values() if not _over_memory(row)}
    reused = len(rows)
    for row in load_journal(journal, wanted).values():
        if not _over_memory(row):
            rows.setdefault(row["id"], row)  # where both hold a row, the finished file's (same key, same text)
    resumed = len(rows) - reused
    pending = [r["id"] for r in records if r["id"] not in rows]
    # Each input is tokenized once; the ids order the work, flag overflows and go to the model.
    encoded = dict(zip(pending, backend.encode([inputs[i] for i in pending]), strict=True))
    pending.sort(key=lambda i: -len(encoded[i]))  # longest first: memory trouble shows at once
    gen = _Generator(backend, on_overflow)
    if spec.samples and sampling is None:
        raise ValueError(f"method {method} samples reasoning paths: it needs the config key 'sampling'")
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
    make_rows = _RowMaker(backend, gen, keys, inputs, formats, spec, max_new_tokens, sampling)
    # A sampling unit journals a few questions at a time (each is `paths` rows of work).
    step = max(1, backend.batch_size // sampling.paths) if spec.samples else backend.batch_size
    pos = 0
    while pos < len(pending):
        chunk = pending[pos : pos + step]
        t0 = time.perf_counter()
        new_rows = make_rows([encoded[i] for i in chunk], chunk)
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
        "generated_tokens": sum(row_generated_tokens(r) for r in ordered),
        "over_context_rows": sum(row_over_context(r) for r in ordered),
        "fingerprint": fp,
    }


def _over_memory(row: dict) -> bool:
    """Whether any input of a row was skipped for not fitting the memory of the job that wrote it."""
    parts = row.get("paths", [row])
    return row.get("stop_reason") == OVER_MEMORY or any(
        p.get(f"{stage}stop_reason") == OVER_MEMORY for p in parts for stage in ("", "stage2_")
    )


class _RowMaker:
    """Generates the rows of a batch of questions: one completion each (greedy), or ``paths``
    sampled completions each (self-consistency), with the answer step of a two-stage method."""

    def __init__(self, backend, gen, keys, inputs, formats, spec, max_new_tokens, sampling):
        self.backend, self.gen, self.keys, self.inputs, self.formats = backend, gen, keys, inputs, formats
        self.spec, self.budgets, self.sampling = spec, max_new_tokens, sampling

    def __call__(self, encoded: list[list[int]], ids: list[str]) -> list[dict]:
        first_budget = self.budgets[self.spec.first_stage_budget]
        if not self.spec.samples:
            first = self.gen.run(encoded, first_budget)
            rows = [
                {"id": rid, "key": self.keys[rid], **_stage_fields("", self.inputs[rid], c, over)}
                for rid, (c, over) in zip(ids, first, strict=True)
            ]
            self._answer_step(rows, rows)
            return rows
        sampled = self.gen.sample(encoded, ids, first_budget, self.sampling)
        rows = []
        for rid, (paths, over) in zip(ids, sampled, strict=True):
            head = _stage_fields("", self.inputs[rid], paths[0], over)
            shared = {k: head[k] for k in ("prompt", "prompt_tokens", "over_context")}
            path_rows = [{k: v for k, v in _stage_fields("", "", c, over).items() if k not in shared} for c in paths]
            rows.append({"id": rid, "key": self.keys[rid], **shared, "paths": path_rows})
        # The answer step reads each path: its prompt is the question's, its reasoning the path's.
        self._answer_step(
            [{"id": r["id"], "prompt": r["prompt"], **p} for r in rows for p in r["paths"]],
            [p for r in rows for p in r["paths"]],
        )
        return rows

    def _answer_step(self, reads: list[dict], writes: list[dict]) -> None:
        """Zero-shot CoT's second stage: each read's prompt and completion, then the answer trigger;
        its fields go into the matching write."""
        if not self.spec.two_stage or not reads:
            return
        stage2_inputs = [
            prompts.zero_shot_cot_stage2(r["prompt"], r["completion"], prompts.answer_trigger(self.formats[r["id"]]))
            for r in reads
        ]
        second = self.gen.run(self.backend.encode(stage2_inputs), self.budgets["answer"])
        for row, text, (c, over) in zip(writes, stage2_inputs, second, strict=True):
            row.update(_stage_fields("stage2_", text, c, over))


def finish(out_path: Path, rows: Sequence[dict]) -> None:
    """Write the final generations file atomically (its journal stays until :func:`drop_journal`)."""
    write_jsonl(out_path, rows)


def drop_journal(out_path: Path) -> None:
    """Remove the journal of a generations file once nothing can roll the file back."""
    journal_path(out_path).unlink(missing_ok=True)
