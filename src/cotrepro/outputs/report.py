"""The self-contained HTML report: tables, figures, published numbers beside ours, provenance.

Everything shown is read from workflow outputs (results/accuracy.csv, generation metadata,
model manifests, task provenance) and config/published.csv; nothing is typed in by hand.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cotrepro import methods
from cotrepro.io import atomic_write_text, read_json
from cotrepro.outputs.plots import human_count
from cotrepro.data.tasks import settings_text
from cotrepro.outputs.transcripts import example_prompts, transcript_text, transcript_title

DEMO_WARNING = ("This is the offline demo. Its models have random weights, so every accuracy below is "
                "meaningless: the demo shows that the pipeline runs end to end, not how well anything reasons.")

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f3f3}
.wide{overflow-x:auto}
.warn{background:#fff4d6;border-left:5px solid #e69f00;padding:.6em 1em}
.note{color:#555;font-size:.9em}
pre{background:#f7f7f7;padding:.7em;overflow-x:auto;white-space:pre-wrap;font-size:.85em}
img{max-width:100%}
"""


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


def _e(value) -> str:
    return html.escape(str(value))


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, escape=True, na_rep="", border=0)


def _fmt_acc(row) -> str:
    return f"{row['accuracy']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"


def accuracy_matrix(acc: pd.DataFrame, task: str, style: str) -> pd.DataFrame:
    """Models (by size) x methods: "accuracy [95% CI]" cells for one task and extraction style."""
    sub = acc[(acc["task"] == task) & (acc["style"] == style)].copy()
    sub["cell"] = sub.apply(_fmt_acc, axis=1)
    wide = sub.pivot_table(index=["model", "parameters"], columns="method", values="cell", aggfunc="first")
    wide = wide.reset_index().sort_values("parameters")
    cols = methods.ordered(wide.columns)
    wide = wide[["model", "parameters", *cols]].rename(columns=methods.labels())
    wide.columns.name = None
    wide["parameters"] = wide["parameters"].map(human_count)
    return wide


def published_beside_ours(acc: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Published rows for the tasks and methods we ran, with our robust accuracy for the same model if any."""
    ours = acc[acc["style"] == "robust"]
    keys = set(zip(ours["task"], ours["method"]))
    rows = []
    for _, p in published.iterrows():
        if (p["task"], p["method"]) not in keys:
            continue
        same = ours[(ours["task"] == p["task"]) & (ours["method"] == p["method"])
                    & (ours["model"].str.lower() == str(p["model"]).lower())]
        rows.append({"source": p["source"], "model": p["model"], "params (B)": p["params_b"], "task": p["task"],
                     "method": methods.label(p["method"]), "shots": p["shots"],
                     "published accuracy": p["accuracy"],
                     "ours (same model)": _fmt_acc(same.iloc[0]) if len(same) else "",
                     "note": "" if pd.isna(p["note"]) else p["note"]})
    return pd.DataFrame(rows)


def _published_section(acc: pd.DataFrame, published: pd.DataFrame) -> str:
    table = published_beside_ours(acc, published)
    if table.empty:
        return "<p>The papers report no numbers for the tasks and methods of this run.</p>"
    return _table(table)


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{_e(path.stem)}" src="data:image/png;base64,{data}"></figure>'


def _files_summary(manifest: dict) -> str:
    files = manifest.get("files", [])
    size = sum(f["size"] for f in files)
    return f"{len(files)} files, {size / 2**20:,.1f} MiB (sha256 of each in resources/models/{manifest.get('model', '')}.json)"


EXEMPLAR_ORIGINS = {
    "downloaded": "the papers' set, downloaded",
    "project": "THE PROJECT'S OWN (not the papers' set)",
}
EXEMPLAR_ORIGIN_NOTE = (
    "<p>Wei et al.'s own exemplars are used where a pinned source with a licence that permits it "
    "exists (GSM8K's eight, shared by the arithmetic tasks). For the other tasks the project wrote "
    "its own set in the same style and size; their few-shot numbers are therefore not the papers' "
    "prompts, and the table says so.</p>")


def _provenance(metas: list[dict], manifests: list[dict], tasks: list[dict]) -> str:
    files_of = {m.get("model"): _files_summary(m) for m in manifests}
    models = {}
    for m in metas:
        b, mm = m["backend"], m["model"]
        models.setdefault(mm["slug"], {
            "model": mm["slug"], "repository": mm["repo"] or f"({mm['source']})",
            "requested revision": mm["requested_revision"] or "", "resolved revision": mm["resolved_revision"],
            "parameters": f"{b['parameters']:,}", "dtype": b["dtype"], "device": b["device_name"],
            "batch size": f"{b['batch_size']} (final {b['final_batch_size']})",
            "context": b["context_length"], "prompt format": m["prompt_format"],
            "files": files_of.get(mm["slug"], "")})
    parts = ["<h3>Models</h3>", _table(pd.DataFrame(models.values()))]
    files = [{"task": t["task"], "file": f["name"], "source": f["source"], "sha256": f["sha256"],
              "records": t["records"], "settings": settings_text(t.get("params"))} for t in tasks for f in t["files"]]
    parts += ["<h3>Datasets</h3>", _table(pd.DataFrame(files))]
    ex = {(m["task"]["key"], m["exemplars"]["name"]): m["exemplars"] for m in metas if m.get("exemplars")}
    if ex:
        parts += ["<h3>Few-shot exemplars</h3>", EXEMPLAR_ORIGIN_NOTE, _table(pd.DataFrame(
            [{"task": task, "set": e["name"], "origin": EXEMPLAR_ORIGINS.get(e["origin"], e["origin"]),
              "source": e["source"], "sha256": e["sha256"], "shots": e["shots"]}
             for (task, _), e in sorted(ex.items())]))]
    if metas:
        m0 = metas[0]
        decoding = {**m0["backend"]["decoding"], "max_new_tokens": m0["max_new_tokens"], "on_overflow": m0["on_overflow"]}
        parts += ["<h3>Decoding</h3>", f"<pre>{_e(decoding)}</pre>",
                  "<h3>Software</h3>", f"<pre>{_e(m0['versions'])}</pre>"]
    seconds = sum(m["stats"]["wall_seconds"] for m in metas)
    parts.append(f"<p>Total generation wall time: {seconds:,.1f} s over {len(metas)} jobs.</p>")
    return "\n".join(parts)


def _prompts(metas: list[dict]) -> str:
    return "\n".join(f"<h3>{_e(methods.label(m['method']))} "
                     f"<span class='note'>({_e(m['model']['slug'])}, {_e(m['task']['key'])})</span></h3><pre>{_e(text)}</pre>"
                     for m, text in example_prompts(metas))


def _failures(acc: pd.DataFrame) -> str:
    robust = acc[acc["style"] == "robust"]
    over = robust[robust["frac_over_context"] > 0]
    lines = [f"<li>{_e(r.model)} / {_e(r.task)} / {_e(methods.label(r.method))}: "
             f"{round(r.frac_over_context * r.n)} of {r.n} prompts longer than the model's context "
             "(generated anyway and flagged; never cut silently)</li>" for r in over.itertuples()]
    return ("<ul>" + "".join(lines) + "</ul>") if lines else "<p>No prompt exceeded its model's context.</p>"


def _significance(path: Path | None) -> str:
    if path is None:
        return ""
    sig = pd.read_csv(path)
    sig = sig[sig["style"] == "robust"]
    if sig.empty:
        return "<p>No pair of methods ran on the same questions.</p>"
    table = pd.DataFrame({
        "model": sig["model"], "task": sig["task"],
        "comparison": [f"{methods.label(a)} vs {methods.label(b)}" for a, b in zip(sig["method_a"], sig["method_b"])],
        "n": sig["n"], "right only with A": sig["only_a"], "right only with B": sig["only_b"],
        "p (exact McNemar)": sig["p_value"].map(lambda p: f"{p:.3g}"),
        "significant (p < 0.05)": sig["significant"].map({True: "yes", False: "no"})})
    return f"<div class='wide'>{_table(table)}</div>"


def _transcripts(path: Path | None) -> str:
    if path is None:
        return ""
    parts = []
    for t in read_json(path):
        parts.append(f"<h3>{_e(transcript_title(t))}</h3><pre>{_e(transcript_text(t))}</pre>")
    return "\n".join(parts) or "<p>No chain-of-thought generations were run.</p>"


def render_report(inputs: ReportInputs) -> str:
    """The report as one HTML string with the figures embedded."""
    acc = pd.read_csv(inputs.accuracy)
    published = pd.read_csv(inputs.published)
    metas = [read_json(p) for p in inputs.generation_meta]
    manifests = [read_json(p) for p in inputs.manifests]
    tasks = [read_json(p) for p in inputs.task_provenance]
    body = ["<h1>cotrepro: chain-of-thought prompting, reproduced</h1>"]
    if inputs.demo:
        body.append(f"<p class='warn'><strong>Demo.</strong> {_e(DEMO_WARNING)}</p>")
    body.append("<p>Accuracy (%) with 95% Wilson intervals. <em>Robust</em> is the project's best answer "
                "extraction; <em>paper-faithful</em> is Kojima et al.'s answer cleansing and exact-match "
                "comparison, so those numbers are comparable with the papers'.</p>")
    for task in sorted(acc["task"].unique()):
        for style, label in (("robust", "robust extraction"), ("kojima", "paper-faithful extraction")):
            body += [f"<h2>{_e(task)}: {label}</h2>", _table(accuracy_matrix(acc, task, style))]
    body += ["<h2>Figures</h2>"] + [_figure(p) for p in inputs.figures if p.suffix == ".png"]
    body += ["<h2>Published vs reproduced</h2>",
             "<p class='note'>The papers' numbers (config/published.csv) for the tasks and methods run here. "
             "Most published models are not open, so the comparison is of trends: CoT gains appear "
             "only at scale.</p>", _published_section(acc, published)]
    notes = {m: n for m, n in inputs.model_notes.items() if n}
    if notes:
        body += ["<h2>Notes on the models</h2><ul>"] + [f"<li><strong>{_e(m)}</strong>: {_e(n)}</li>"
                                                        for m, n in notes.items()] + ["</ul>"]
    if inputs.significance is not None:
        body += ["<h2>Paired tests</h2>",
                 "<p class='note'>Exact McNemar test on the same questions (robust extraction): A and B are "
                 "the two methods compared; only the questions one got right and the other wrong count.</p>",
                 _significance(inputs.significance)]
    body += ["<h2>Failure analysis</h2>", _failures(acc),
             "<p>Full table (fractions: hit the max-new-tokens budget, no answer extracted, prompt over context):</p>",
             f"<div class='wide'>{_table(acc)}</div>"]
    if inputs.transcripts is not None:
        body += ["<h2>Example transcripts</h2>",
                 "<p class='note'>Per model, the first question (in task and file order) its chain of thought "
                 "answered right and the first it answered wrong.</p>", _transcripts(inputs.transcripts)]
    body += ["<h2>Prompts (one example per method)</h2>", _prompts(metas)]
    body += ["<h2>Provenance</h2>", _provenance(metas, manifests, tasks)]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>cotrepro report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(inputs: ReportInputs, out_path: Path) -> None:
    """Render the report and write it atomically."""
    atomic_write_text(out_path, render_report(inputs))
