"""The project's check on its own generation: one model's prompts through both backends, transformers
(``hf``) and the from-scratch Llama (``scratch``), with the same runner, prompts and settings, and a
count of the rows whose every completion, token count and stop reason agree."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cotrepro.engine.loader import load_backend
from cotrepro.generation import runner
from cotrepro.generation.job import select_exemplars

COMPARED = ("completion", "generated_tokens", "stop_reason", "prompt_tokens")
"""The fields of a row (and of its second stage, if any) that must be equal in both backends."""


def differing_fields(a: dict, b: dict) -> list[str]:
    """The compared fields (both stages) in which two rows of the same question differ."""
    keys = [k for f in COMPARED for k in (f, f"stage2_{f}") if k in a or k in b]
    return [k for k in keys if a.get(k) != b.get(k)]


IN_PROCESS = ("hf", "scratch")
"""The backends compared: both run the model in this process on the same weights (a served model
is checked against them by the served tests, not here)."""


def backend_agreement(
    model_dir: Path,
    records: Sequence[dict],
    method_keys: Sequence[str],
    *,
    settings: dict,
    rows_dir: Path,
    exemplar_doc: dict | None = None,
    shots: int | None = None,
) -> dict:
    """Generate ``records`` for each method with each backend (rows kept under ``rows_dir/{backend}/``)
    and return per method how many rows agree. ``settings``: device, dtype, batch_size, stop,
    max_new_tokens (reasoning and answer budgets) and on_overflow, as in a generation unit; few-shot
    methods take the first ``shots`` exemplars of ``exemplar_doc``."""
    loaded = {
        name: load_backend(
            name,
            model_dir,
            "causal",
            device=settings["device"],
            dtype=settings["dtype"],
            batch_size=settings["batch_size"],
            stop=settings["stop"],
        )
        for name in IN_PROCESS
    }
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
            for a, b in zip(rows["hf"], rows["scratch"], strict=True)
            if (fields := differing_fields(a, b))
        }
        per_method[method] = {"rows": len(records), "identical": len(records) - len(differing), "differing": differing}
    return {
        "methods": per_method,
        "rows": sum(m["rows"] for m in per_method.values()),
        "identical": sum(m["identical"] for m in per_method.values()),
        "backends": {name: backend.describe() for name, backend in loaded.items()},
    }
