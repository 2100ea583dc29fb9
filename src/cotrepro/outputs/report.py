"""The self-contained HTML report: tables, figures, published numbers beside ours, provenance.

Everything shown is read from workflow outputs (results/accuracy.csv, generation metadata,
model manifests, task provenance) and config/published.csv; nothing is typed in by hand. The
tables are the frames of :mod:`cotrepro.outputs.tables`, which the paper renders too; the page is
the Jinja2 template ``report.html.j2`` beside this module.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from cotrepro import methods
from cotrepro.io import atomic_write_text, read_json
from cotrepro.outputs import ablations, exemplar_sources, tables
from cotrepro.outputs.calibration import display as calibration_cells
from cotrepro.outputs.transcripts import example_prompts, transcript_text, transcript_title
from cotrepro.scoring.disagreements import read_disagreements

DEMO_WARNING = (
    "This is the offline demo. Its models have random weights, so every accuracy below is "
    "meaningless: the demo shows that the pipeline runs end to end, not how well anything reasons."
)


@dataclass
class ReportInputs:
    """Paths of the workflow outputs the report reads."""

    accuracy: Path
    figures: list[Path]
    published: Path
    generation_meta: list[Path]
    generations: list[Path] = field(default_factory=list)
    manifests: list[Path] = field(default_factory=list)
    task_provenance: list[Path] = field(default_factory=list)
    demo: bool = False
    model_notes: dict = field(default_factory=dict)
    significance: Path | None = None
    transcripts: Path | None = None
    paths: Path | None = None  # results/accuracy_vs_paths.csv
    calibration: Path | None = None
    agreement: list[Path] = field(default_factory=list)  # backend agreement summaries (generation/agreement.py)
    disagreements: Path | None = None  # results/extraction_disagreements.csv
    batch_invariance: Path | None = None  # results/batch_invariance.csv, when the check ran


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


def _disagreements(acc: pd.DataFrame, path: Path | None) -> dict | None:
    """The extraction-disagreement tables: counts beside each accuracy, and examples per cause."""
    if path is None:
        return None
    dis = read_disagreements(path)
    return {
        "total": len(dis),
        "counts": tables.disagreement_counts(acc, dis),
        "examples": tables.disagreement_examples(dis, per_cause=3),
    }


def batch_invariance_section(path: Path | None) -> dict | None:
    """What the report's batch-size invariance section shows (None when the check did not run): the
    table, and the totals over models of questions, differing completions and flipped answers."""
    if path is None:
        return None
    frame = pd.read_csv(path)
    return {
        "table": tables.batch_invariance(frame),
        "questions": int(frame["n"].sum()),
        "differing": int(frame["differing_completions"].sum()),
        "flipped": {label: int(frame[f"flipped_{s}"].sum()) for s, label in tables.STYLE_LABELS.items()},
    }


def render_report(inputs: ReportInputs) -> str:
    """The report as one HTML string with the figures embedded."""
    acc = pd.read_csv(inputs.accuracy)
    sig = None if inputs.significance is None else pd.read_csv(inputs.significance)
    published = pd.read_csv(inputs.published)
    every_meta = [read_json(p) for p in inputs.generation_meta]
    # A unit that did not apply to its model (chat format, no chat template) has no rows to describe.
    metas = [m for m in every_meta if "not_applicable" not in m]
    chosen = None if inputs.transcripts is None else read_json(inputs.transcripts)
    checks = [read_json(p) for p in inputs.agreement]
    return _template().render(
        demo_warning=DEMO_WARNING if inputs.demo else None,
        significant=tables.SIGNIFICANT,
        accuracy=_accuracy_sections(acc, sig),
        figures=[(p.stem, base64.b64encode(p.read_bytes()).decode()) for p in inputs.figures if p.suffix == ".png"],
        comparisons=_comparison_sections(acc, sig, published),
        calibration=None if inputs.calibration is None else calibration_cells(pd.read_csv(inputs.calibration)),
        notes={m: n for m, n in inputs.model_notes.items() if n},
        paired_tests=None if sig is None else tables.paired_tests(sig),
        over_context=_over_context(acc),
        failures=tables.failures(acc),
        compute=tables.test_time_compute(acc, None if inputs.paths is None else pd.read_csv(inputs.paths)),
        triggers=ablations.trigger_study(acc, metas, published, "kojima"),
        orders=ablations.order_spread(acc, metas, "robust"),
        formats=ablations.format_comparison(acc, sig, every_meta, "robust"),
        styles=tables.extraction_styles(acc),
        disagreements=_disagreements(acc, inputs.disagreements),
        transcripts=None if chosen is None else [(transcript_title(t), transcript_text(t)) for t in chosen],
        prompts=[
            (methods.label(m["method"]), m["model"]["slug"], m["task"]["key"], text)
            for m, text in example_prompts(metas)
        ],
        models=tables.models(metas, [read_json(p) for p in inputs.manifests]),
        datasets=tables.tasks([read_json(p) for p in inputs.task_provenance], acc),
        exemplars=tables.exemplars(metas),
        exemplar_sources=exemplar_sources.sources(metas),
        exemplar_differences=exemplar_sources.differences(metas),
        decoding=tables.decoding(metas),
        software=tables.software(metas),
        generation_seconds=tables.generation_seconds(metas),
        units=len(metas),
        agreement=tables.agreement(checks) if checks else None,
        agreement_total=(sum(c["identical"] for c in checks), sum(c["rows"] for c in checks)),
        batch_invariance=batch_invariance_section(inputs.batch_invariance),
    )


def write_report(inputs: ReportInputs, out_path: Path) -> None:
    """Render the report and write it atomically."""
    atomic_write_text(out_path, render_report(inputs))
