"""The project's check on its own generation: one model's prompts through two backends with the same
runner, prompts and settings, and a count of the rows whose every completion, token count and stop
reason agree. By default transformers (``hf``) against the from-scratch Llama (``scratch``): two
implementations of the forward pass in this process; with ``served``, the same weights behind an
OpenAI-compatible server the check starts (``transformers serve`` in the tests): two engines."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from cotrepro.engine.loader import load_backend
from cotrepro.generation import runner
from cotrepro.generation.job import select_exemplars

COMPARED = ("completion", "generated_tokens", "stop_reason", "prompt_tokens")
"""The fields of a row (and of its second stage, if any) that must be equal in both backends."""

DEFAULT_BACKENDS = ("hf", "scratch")


def differing_fields(a: dict, b: dict) -> list[str]:
    """The compared fields (both stages) in which two rows of the same question differ."""
    keys = [k for f in COMPARED for k in (f, f"stage2_{f}") if k in a or k in b]
    return [k for k in keys if a.get(k) != b.get(k)]


def _load(name: str, model_dir: Path, settings: dict, served: dict | None, stack: contextlib.ExitStack):
    """Backend ``name`` on ``model_dir``; a served one's server is started on ``stack`` (stopped
    when the check ends, however it ends)."""
    common = {"batch_size": settings["batch_size"], "stop": settings["stop"]}
    if name != "served":
        return load_backend(name, model_dir, "causal", device=settings["device"], dtype=settings["dtype"], **common)
    from cotrepro.generation.served_job import started_server

    connection = stack.enter_context(started_server(served, model_dir, served["log"]))
    return load_backend("served", model_dir, "causal", served=connection, **common)


def backend_agreement(
    model_dir: Path,
    records: Sequence[dict],
    method_keys: Sequence[str],
    *,
    settings: dict,
    rows_dir: Path,
    exemplar_doc: dict | None = None,
    shots: int | None = None,
    backends: Sequence[str] = DEFAULT_BACKENDS,
    served: dict | None = None,
) -> dict:
    """Generate ``records`` for each method with each of the two ``backends`` (rows kept under
    ``rows_dir/{backend}/``) and return per method how many rows agree. ``settings``: device, dtype,
    batch_size, stop, max_new_tokens (reasoning and answer budgets) and on_overflow, as in a
    generation unit; few-shot methods take the first ``shots`` exemplars of ``exemplar_doc``.
    ``served`` (with backend served): serve, served_model, serve_timeout and the server's log."""
    with contextlib.ExitStack() as stack:
        loaded = {name: _load(name, model_dir, settings, served, stack) for name in backends}
        return _compare(loaded, records, method_keys, settings, rows_dir, exemplar_doc, shots)


def _compare(loaded: dict, records, method_keys, settings, rows_dir, exemplar_doc, shots) -> dict:
    """Each method's rows through each loaded backend, and how many agree."""
    first, second = loaded
    per_method = {}
    for method in method_keys:
        rows = {}
        for name, backend in loaded.items():
            out = Path(rows_dir) / name / f"{method}.jsonl"
            rows[name], _ = runner.run_generation(
                backend,
                records,
                method=method,
                exemplars=select_exemplars(exemplar_doc, method, shots),
                max_new_tokens=settings["max_new_tokens"],
                on_overflow=settings["on_overflow"],
                out_path=out,
                fingerprint={"backend": name, "settings": settings},
                progress_label=f"{name}/{method}",
            )
            runner.finish(out, rows[name])
            runner.drop_journal(out)
        differing = {
            a["id"]: fields
            for a, b in zip(rows[first], rows[second], strict=True)
            if (fields := differing_fields(a, b))
        }
        per_method[method] = {"rows": len(records), "identical": len(records) - len(differing), "differing": differing}
    return {
        "methods": per_method,
        "rows": sum(m["rows"] for m in per_method.values()),
        "identical": sum(m["identical"] for m in per_method.values()),
        "compared": list(loaded),
        "backends": {name: backend.describe() for name, backend in loaded.items()},
    }
