"""Batch-size invariance, measured: a seeded subset of one (task, method) unit's questions generated
again one at a time, with the same model, settings, prompts and engine as the batched run, and each
row set beside the batched run's row of the same question.

Greedy decoding is not batch-invariant by itself: padding changes the shapes of the matrix products
and so their rounding, and a flipped near-tie changes every later token (lm-eval #2498). Nothing is
assumed here; this module generates and compares. The answers each style extracts are compared
later (:mod:`cotrepro.scoring.batch_invariance`), so that an extractor edit does not regenerate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from cotrepro.generation import runner
from cotrepro.generation.agreement import differing_fields
from cotrepro.generation.job import load_unit_backend, prompt_arguments, unit_fingerprint

TEXT_FIELDS = ("completion", "stage2_completion")
"""The generated texts of a row, in stage order; a row's completion differs when one of them does."""


def question_subset(records: Sequence[dict], n: int, seed: int) -> list[dict]:
    """``n`` of ``records`` (all of them when there are fewer), in task order, chosen by ``seed``.

    Each id is ranked by sha256 of (seed, id), not drawn from a random generator: the choice is
    the same on every machine and Python version, a record's rank does not depend on the others
    (a larger ``n`` keeps the smaller subset), and a rerun picks the same questions."""
    rank = {r["id"]: hashlib.sha256(f"{seed}:{r['id']}".encode()).hexdigest() for r in records}
    chosen = set(sorted(rank, key=rank.get)[:n])
    return [r for r in records if r["id"] in chosen]


class _AsInTheUnit:
    """A backend whose :meth:`prepare` sees the whole unit's first-stage inputs, whatever subset it
    is given: the shared exemplar prefix (and a compiled cache's length) is then the one the batched
    run computed, so that the batch size is the only thing that differs. Everything else is the
    backend's own."""

    def __init__(self, backend, unit_inputs: list[list[int]]):
        self._backend, self._unit_inputs = backend, unit_inputs

    def prepare(self, inputs, max_new_tokens: int) -> None:
        """Prepare for the unit's inputs (not only ``inputs``), as the batched run did."""
        self._backend.prepare(self._unit_inputs, max_new_tokens)

    def __getattr__(self, name):
        return getattr(self._backend, name)


def first_difference(a: Sequence[int], b: Sequence[int]) -> int | None:
    """The first position at which two token sequences differ (the shorter one's length when one
    is a prefix of the other), or None when they are equal."""
    if list(a) == list(b):
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def compare_row(one: dict, batched: dict, encode: Callable[[str], list[int]]) -> dict:
    """How a batch-1 row differs from the batched row of the same question: the differing fields
    (every stage's text, token counts and stop reason), whether a text differs, and in the first
    stage whose text differs, the first differing token of the two texts as ``encode`` tokenizes
    them (rows keep text, not ids; the model's own tokenizer makes the position a token count)."""
    if one["key"] != batched["key"]:
        # The key hashes the exact model input and every setting: a mismatch means the two rows are
        # not the same question under the same settings, and comparing them would measure nothing.
        raise ValueError(
            f"question {one['id']}: the batch-1 row's key differs from the batched run's, so their inputs or "
            "settings differ; rerun the generation job (snakemake reruns it when its inputs changed)"
        )
    fields = differing_fields(one, batched)
    stage = next((f for f in TEXT_FIELDS if f in fields), None)
    first = None if stage is None else first_difference(encode(one[stage]), encode(batched[stage]))
    return {
        "differing_fields": fields,
        "completion_differs": stage is not None,
        "differing_stage": stage,
        "first_differing_token": first,
    }


def compare_rows(rows: Sequence[dict], batched_rows: Sequence[dict], encode: Callable[[str], list[int]]) -> list[dict]:
    """Each batch-1 row with its comparison (:func:`compare_row`) against the batched row of its
    question, as field ``batch_invariance``."""
    batched = {r["id"]: r for r in batched_rows}
    missing = [r["id"] for r in rows if r["id"] not in batched]
    if missing:
        raise ValueError(f"the batched run has no row for question(s) {', '.join(map(str, missing))}")
    return [{**r, "batch_invariance": compare_row(r, batched[r["id"]], encode)} for r in rows]


def measure(
    manifest: dict,
    records: Sequence[dict],
    batched_rows: Sequence[dict],
    *,
    method: str,
    exemplars: Sequence[dict],
    settings: dict,
    questions: int,
    seed: int,
    out_path: Path,
    devices: int = 1,
) -> list[dict]:
    """Load the unit's model at batch size 1, generate the seeded subset of ``records``
    (:func:`question_subset`) through the same runner and engine as the batched run, and return its
    rows compared with ``batched_rows``. ``settings`` are the unit's (as rule generate passes them);
    the rows are journaled beside ``out_path`` (a killed job resumes) and written there by the caller."""
    subset = question_subset(records, questions, seed)
    backend = load_unit_backend(settings, manifest, 1, devices=devices)
    # The batched rows hold each question's exact model input; the unit's shared prefix is theirs.
    unit = _AsInTheUnit(backend, backend.encode([r["prompt"] for r in batched_rows]))
    rows, _ = runner.run_generation(
        unit,
        subset,
        method=method,
        max_new_tokens=settings["max_new_tokens"],
        on_overflow=settings["on_overflow"],
        out_path=out_path,
        fingerprint=unit_fingerprint(manifest, settings, backend),
        progress_label=f"batch 1: {Path(out_path).stem}",
        **prompt_arguments(settings, exemplars),
    )

    def encode(text: str) -> list[int]:
        return backend.tokenizer(text, add_special_tokens=False)["input_ids"]

    return compare_rows(rows, batched_rows, encode)
