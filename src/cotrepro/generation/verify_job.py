"""The verify stage: one job a verifier loads its model once and scores every stored path of the
units it is given, each unit into its own verification file (the contract in :mod:`cotrepro.rows`).

Journaled and resumable like generation (:mod:`cotrepro.generation.runner`): each scored row is
appended to a journal beside the file and flushed, so a killed job loses at most the row in
flight. Each row carries ``verification_key``, a digest of its generation row's key and of the
verifier's fingerprint (weights revision, kind, format, dtype, scoring code); a rerun reuses the
rows of the finished file and of the journal whose ``verification_key`` is unchanged. A PRM's row
stores its step scores, so that changing only the ``aggregate`` recomputes ``scores`` from them
and runs no model. Kind ``self`` has no weights of its own: each unit is scored by the model that
generated it, loaded once per model.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cotrepro import prompts
from cotrepro.code_digest import code_digest
from cotrepro.generation import runner
from cotrepro.io import jsonl_line, read_json, read_jsonl, write_json, write_jsonl
from cotrepro.provenance import digest, package_versions, utc_now

log = logging.getLogger("cotrepro.verify")

SCORING_CODE = ("engine/hf/verifier_scores.py", "engine/hf/prm_format.py", "generation/verify_job.py")
"""The modules whose code decides a verifier's scores, hashed into every verification row's key:
editing one rescores; a refactor that does not change what they do does not (see code_digest)."""


@dataclass(frozen=True)
class VerifyUnit:
    """One (model, task, method) a verify job scores: its generation rows, its questions, its two outputs."""

    model: str
    task: str
    method: str
    generations: Path
    task_records: Path
    rows_path: Path
    meta_path: Path

    @property
    def label(self) -> str:
        return f"{self.model}/{self.task}/{self.method}"


@dataclass(frozen=True)
class VerifyJob:
    """Plain inputs of one verifier's job. ``manifests``: model -> manifest, the verifier's own under
    its slug (kinds orm, prm) or each generating model's (kind self); ``architectures``: model ->
    seq2seq or causal, for kind self."""

    verifier: str
    spec: dict
    manifests: dict[str, Path]
    units: tuple[VerifyUnit, ...]
    architectures: dict[str, str]
    device: str = "auto"
    dtype: str = "auto"


def path_text(row: dict, path: dict) -> tuple[str, str]:
    """(reasoning, answer) of one stored path: the first completion, and for two-stage zero-shot
    CoT the answer trigger (as the stage-2 prompt joined it) plus the stage-2 completion."""
    reasoning = path["completion"]
    stage2 = path.get("stage2_prompt")
    if stage2 is None:
        return reasoning, ""
    head = f"{row['prompt']}{reasoning}{prompts.STAGE2_JOIN}"
    if not stage2.startswith(head):
        raise ValueError(f"row {row['id']}: its stage-2 prompt does not extend its prompt and reasoning")
    return reasoning, stage2[len(head) :] + path["stage2_completion"]


def row_paths(row: dict) -> list[dict]:
    """A generation row's paths in order (a greedy row is its own one path)."""
    return row.get("paths", [row])


def verification_key(generation_key: str, fingerprint: str) -> str:
    """The key of a verification row: its generation row's key under one verifier fingerprint."""
    return digest({"generation": generation_key, "verifier": fingerprint})


def _rows_by_key(path: Path, wanted: set[str]) -> dict[str, dict]:
    """verification_key -> row of the JSON lines in ``path`` whose key is in ``wanted``; a torn or
    unreadable line (a killed write) is skipped, and its row scored again."""
    if not path.exists():
        return {}
    kept = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("verification_key") in wanted:
            kept[row["verification_key"]] = row
    return kept


def _append(journal: Path, row: dict) -> None:
    """One scored row onto the journal, on disk before the next is scored."""
    with open(journal, "a", encoding="utf-8") as fh:
        fh.write(jsonl_line(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


class Scorer:
    """A loaded verifier model and how it scores a question's paths: ``score(question, paths)``, paths
    as ``(reasoning, answer)``, -> ``(score, step_scores or None, tokens processed)`` each, in
    batched forward passes."""

    def __init__(self, kind: str, model, tokenizer, fmt: str | None = None):
        self.kind, self.model, self.tokenizer, self.fmt = kind, model, tokenizer, fmt

    def score(self, question: str, paths: list[tuple[str, str]]) -> list[tuple[float | None, list[float] | None, int]]:
        """Each path's score (a PRM's is None: its step scores are aggregated by the job)."""
        from cotrepro.engine.hf import verifier_scores as vs

        m, tok = self.model, self.tokenizer
        if self.kind == "orm":
            texts = [vs.orm_text(question, reasoning, answer) for reasoning, answer in paths]
            return [(score, None, n) for score, n in vs.orm_scores(m, tok, texts)]
        solutions = [reasoning + answer for reasoning, answer in paths]
        if self.kind == "prm":
            return [(None, steps, n) for steps, n in vs.prm_step_scores_many(m, tok, self.fmt, question, solutions)]
        return [(score, None, n) for score, n in vs.p_trues(m, tok, question, solutions)]


def identify(job: VerifyJob, model_key: str) -> dict:
    """What scores with ``model_key``'s manifest (the verifier's slug, or a generating model for kind
    self), read without loading it: its files checked against the manifest's sha256 and its config
    against remote code, then source, repo, revision, parameters (from the safetensors headers),
    dtype and licence, for the rows' fingerprint and the metadata."""
    from cotrepro.engine.hf.verifier_scores import refuse_remote_code, safetensors_parameters
    from cotrepro.engine.tokens import resolve_device, resolve_dtype
    from cotrepro.models.weights_check import verify_model_files

    manifest_path = job.manifests[model_key]
    manifest = read_json(manifest_path)
    directory = verify_model_files(model_key, manifest, manifest_path)
    refuse_remote_code(job.verifier, read_json(directory / "config.json"))
    return {
        "model": model_key,
        "directory": str(directory),
        "source": manifest.get("source", "hub"),
        "repo": manifest.get("repo"),
        "revision": manifest["resolved_revision"],
        "parameters": safetensors_parameters(directory),
        "dtype": str(resolve_dtype(job.dtype, resolve_device(job.device))),
        # The config's licence, else the one the Hub's model card gives (recorded at download).
        "licence": job.spec.get("licence") or manifest.get("licence"),
    }


def load_scorer(job: VerifyJob, identity: dict) -> Scorer:
    """The loaded scorer of an :func:`identify`-ed model (an ORM's classifier head, a PRM's causal
    LM, or for kind self the generating model as it is built)."""
    from cotrepro.engine.hf.verifier_scores import load_verifier_model

    kind = job.spec["kind"]
    head = {"orm": "classifier", "prm": "causal"}.get(kind) or job.architectures[identity["model"]]
    model, tokenizer = load_verifier_model(identity["directory"], head, job.device, job.dtype)
    return Scorer(kind, model, tokenizer, job.spec.get("format"))


def fingerprint(spec: dict, identity: dict) -> str:
    """What shapes a verifier's step or path scores, hashed into its rows' keys: the weights (repo,
    revision), the kind and format, the dtype and the scoring code. Not the aggregate: a PRM's rows
    keep their step scores, from which a new aggregate is recomputed without the model."""
    return digest(
        {
            "kind": spec["kind"],
            "format": spec.get("format"),
            "weights": [identity["repo"], identity["revision"]],
            "dtype": identity["dtype"],
            "code": code_digest(modules=SCORING_CODE),
        }
    )


def _path_scores(row: dict, spec: dict) -> dict:
    """A verification row's ``scores`` from its stored step scores under the spec's aggregate (a PRM),
    or as stored (the other kinds)."""
    from cotrepro.engine.hf.prm_format import aggregate

    if "step_scores" not in row:
        return row
    return row | {"scores": [aggregate(steps, spec["aggregate"]) for steps in row["step_scores"]]}


def score_unit(job: VerifyJob, unit: VerifyUnit, identity: dict, scorer: Callable[[], Scorer]) -> dict:
    """Score one unit: reuse the rows whose verification key is unchanged, score the rest (loading
    the model through ``scorer`` only if a row needs it), journal as it goes, write the metadata and
    then the file; return the metadata."""
    started, t0 = utc_now(), time.perf_counter()
    generations = read_jsonl(unit.generations)
    questions = {r["id"]: r["question"] for r in read_jsonl(unit.task_records)}
    fp = fingerprint(job.spec, identity)
    keys = {g["id"]: verification_key(g["key"], fp) for g in generations}
    wanted = set(keys.values())
    journal = runner.journal_path(unit.rows_path)
    done = _rows_by_key(unit.rows_path, wanted)
    reused = len(done)
    journaled = _rows_by_key(journal, wanted)
    write_jsonl(journal, journaled.values())  # a torn last line dropped: appends continue cleanly
    for key, row in journaled.items():
        done.setdefault(key, row)
    resumed = len(done) - reused
    scored = 0
    for g in generations:
        if keys[g["id"]] in done:
            continue
        row = _verify_row(scorer(), g, questions[g["id"]], keys[g["id"]])
        _append(journal, row)
        done[row["verification_key"]] = row
        scored += 1
    rows = [_path_scores(done[keys[g["id"]]], job.spec) for g in generations]
    meta = {
        "verifier": job.verifier,
        "kind": job.spec["kind"],
        **{k: identity[k] for k in ("source", "repo", "revision", "parameters", "dtype", "licence")},
        "scored_by": identity["model"],
        "format": job.spec.get("format"),
        "aggregate": job.spec.get("aggregate") if job.spec["kind"] == "prm" else None,
        "fingerprint": fp,
        "unit": {"model": unit.model, "task": unit.task, "method": unit.method},
        "stats": {
            "rows": len(rows),
            "reused_rows": reused,
            "resumed_rows": resumed,
            "scored_rows": scored,
            "paths": sum(len(r["scores"]) for r in rows),
            "tokens": sum(r["tokens"] for r in rows),
            "wall_seconds": round(time.perf_counter() - t0, 3),
        },
        "started_at": started,
        "finished_at": utc_now(),
        "versions": package_versions(),
    }
    # Metadata first: a job killed between the two writes still has its journal to resume from.
    write_json(unit.meta_path, meta)
    runner.finish(unit.rows_path, rows)
    log.info(
        "%s %s: %d rows (%d reused, %d resumed from the journal, %d scored)",
        job.verifier,
        unit.label,
        len(rows),
        reused,
        resumed,
        scored,
    )
    return meta


def _verify_row(scorer: Scorer, row: dict, question: str, key: str) -> dict:
    """The verification row of one generation row: every path scored, in path order."""
    scored = scorer.score(question, [path_text(row, path) for path in row_paths(row)])
    out = {
        "id": row["id"],
        "key": row["key"],
        "verification_key": key,
        "scores": [score for score, _, _ in scored],
        "tokens": sum(n for _, _, n in scored),
    }
    if scorer.kind == "prm":
        out["step_scores"] = [steps for _, steps, _ in scored]  # "scores" is filled from them by the aggregate
    return out


def run_verify_job(job: VerifyJob) -> list[dict]:
    """Score every unit of the job, each model loaded once and only when a row needs it; journals
    are dropped once every unit's files are written. Returns the units' metadata."""
    identities: dict[str, dict] = {}
    loaded: dict[str, Scorer] = {}
    metas = []
    for unit in job.units:
        key = unit.model if job.spec["kind"] == "self" else job.verifier
        if key not in identities:
            identities[key] = identify(job, key)

        def scorer(key=key) -> Scorer:
            if key not in loaded:
                log.info("%s: loading %s (once for the job)", job.verifier, key)
                loaded[key] = load_scorer(job, identities[key])
            return loaded[key]

        metas.append(score_unit(job, unit, identities[key], scorer))
    for unit in job.units:
        runner.drop_journal(unit.rows_path)
    log.info("%s: %d units; models loaded: %s", job.verifier, len(job.units), ", ".join(loaded) or "none")
    return metas
