"""The self-contained HTML report: tables, figures, published numbers beside ours, provenance.

Everything shown is read from workflow outputs (results/accuracy.csv, generation metadata,
model manifests, task provenance) and config/published.csv, as :mod:`cotrepro.outputs.loader`
parses them for the paper too; nothing is typed in by hand. The tables are the frames of
:mod:`cotrepro.outputs.tables`, which the paper renders too; the page is the Jinja2 template
``report.html.j2`` beside this module.
"""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd

from cotrepro import methods
from cotrepro.io import atomic_write_text
from cotrepro.outputs import ablations, exemplar_sources, tables
from cotrepro.outputs.calibration import display as calibration_cells
from cotrepro.outputs.loader import RunOutputs
from cotrepro.outputs.transcripts import example_prompts, transcript_text, transcript_title

DEMO_WARNING = (
    "This is the offline demo. Its models have random weights, so every accuracy below is "
    "meaningless: the demo shows that the pipeline runs end to end, not how well anything reasons."
)


def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cotrepro", "outputs"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2")


def _accuracy_sections(acc: pd.DataFrame, sig: pd.DataFrame | None) -> list[tuple[str, str, pd.DataFrame]]:
    """(heading, table id, frame) per task and extraction style; the heading names the task, so its
    column is dropped."""
    frames = {style: tables.accuracy_matrix(acc, sig, style) for style in tables.STYLE_LABELS}
    return [
        (
            f"{task}: {label} extraction",
            f"accuracy-{task}-{style}",
            frames[style][frames[style]["task"] == task].drop(columns="task"),
        )
        for task in sorted(acc["task"].unique())
        for style, label in tables.STYLE_LABELS.items()
    ]


def _comparison_sections(acc, sig, published) -> list[tuple[str, str, pd.DataFrame]]:
    return [
        (tables.comparison_title(pair), f"published-{pair[1]}", tables.comparison(acc, sig, published, pair))
        for pair in tables.comparison_pairs(acc, published)
    ]


def _over_context(acc: pd.DataFrame) -> list[dict]:
    over = acc[(acc["style"] == "robust") & (acc["frac_over_context"] > 0)]
    return [
        {
            "model": r.model,
            "task": r.task,
            "method": methods.label(r.method),
            "count": round(r.frac_over_context * r.n),
            "n": r.n,
        }
        for r in over.itertuples()
    ]


def _disagreements(acc: pd.DataFrame, dis: pd.DataFrame | None) -> dict | None:
    """The extraction-disagreement tables: counts beside each accuracy, and examples per cause."""
    if dis is None:
        return None
    return {
        "total": len(dis),
        "counts": tables.disagreement_counts(acc, dis),
        "examples": tables.disagreement_examples(dis, per_cause=3),
    }


def batch_invariance_section(frame: pd.DataFrame | None) -> dict | None:
    """What the report's batch-size invariance section shows (None when the check did not run): the
    table, and the totals over models of questions, differing completions and flipped answers."""
    if frame is None:
        return None
    return {
        "table": tables.batch_invariance(frame),
        "questions": int(frame["n"].sum()),
        "differing": int(frame["differing_completions"].sum()),
        "flipped": {label: int(frame[f"flipped_{s}"].sum()) for s, label in tables.STYLE_LABELS.items()},
    }


STRATEGY_FIGURES = ("strategies", "flops")
"""The figures the choosers' section shows with its tables (not in the general figures list)."""


def strategies_section(run: RunOutputs) -> dict | None:
    """The choosers' section (None when no self-consistency unit ran): the choosers' table, the
    verifiers that scored the paths (weights, revision, licence), Wang et al.'s Table 1 beside ours,
    and the two figures (name -> base64 PNG) that the run drew."""
    table = tables.strategies(run.accuracy, run.selection)
    if table.empty:
        return None
    return {
        "table": table,
        "comparison": tables.strategy_comparison(run.accuracy, run.selection, run.published),
        "verifiers": tables.verifiers(run.verifications),
        "figures": {p.stem: _png(p) for p in run.figures if p.suffix == ".png" and p.stem in STRATEGY_FIGURES},
    }


def _png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def agreement_engines(summary: dict) -> str:
    """The two backends of an agreement check, in words; a server by the program that served it."""
    words = {
        "hf": "transformers' model classes",
        "scratch": "the project's from-scratch Llama (engine/scratch/llama.py)",
    }
    described = []
    for name in tables.compared_backends(summary):
        if name == "served":
            command = summary["backends"]["served"]["server"].get("command") or ["a server"]
            program = " ".join([Path(command[0]).name, *command[1:2]])  # "transformers serve", "vllm serve"
            described.append(f"an OpenAI-compatible server ({program}) over HTTP")
        else:
            described.append(words[name])
    return " and through ".join(described)


def render_report(run: RunOutputs) -> str:
    """The report as one HTML string with the figures embedded."""
    acc, sig, metas, checks = run.accuracy, run.significance, run.metas, run.agreement
    section = strategies_section(run)
    # The choosers' figures sit in their section, with captions; without it (no sampled paths) in the list.
    in_section = STRATEGY_FIGURES if section else ()
    return _template().render(
        demo_warning=DEMO_WARNING if run.demo else None,
        significant=tables.SIGNIFICANT,
        accuracy=_accuracy_sections(acc, sig),
        figures=[(p.stem, _png(p)) for p in run.figures if p.suffix == ".png" and p.stem not in in_section],
        comparisons=_comparison_sections(acc, sig, run.published),
        calibration=None if run.calibration is None else calibration_cells(run.calibration),
        notes={m: n for m, n in run.model_notes.items() if n},
        paired_tests=None if sig is None else tables.paired_tests(sig),
        over_context=_over_context(acc),
        failures=tables.failures(acc),
        compute=tables.test_time_compute(acc, run.paths),
        strategies=section,
        **ablations.ablation_tables(acc, sig, run.published, run.every_meta)._asdict(),
        styles=tables.extraction_styles(acc),
        disagreements=_disagreements(acc, run.disagreements),
        transcripts=None
        if run.transcripts is None
        else [(transcript_title(t), transcript_text(t)) for t in run.transcripts],
        prompts=[
            (methods.label(m["method"]), m["model"]["slug"], m["task"]["key"], text)
            for m, text in example_prompts(metas)
        ],
        models=tables.models(metas, run.manifests),
        datasets=tables.tasks(run.tasks, acc),
        exemplars=tables.exemplars(metas),
        exemplar_sources=exemplar_sources.sources(metas),
        exemplar_differences=exemplar_sources.differences(metas),
        decoding=tables.decoding(metas),
        software=tables.software(metas),
        generation_seconds=tables.generation_seconds(metas),
        units=len(metas),
        agreement=tables.agreement(checks) if checks else None,
        agreement_engines=[agreement_engines(c) for c in checks],
        agreement_total=(sum(c["identical"] for c in checks), sum(c["rows"] for c in checks)),
        batch_invariance=batch_invariance_section(run.batch_invariance),
    )


def write_report(run: RunOutputs, out_path: Path) -> None:
    """Render the report and write it atomically."""
    atomic_write_text(out_path, render_report(run))
