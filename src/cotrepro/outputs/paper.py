"""LaTeX fragments for the paper: every number, table and example comes from workflow outputs.

paper/main.tex only ``\\input``s what :func:`write_fragments` writes into
``results/paper/fragments/``; nothing in the manuscript is typed in by hand.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cotrepro import methods
from cotrepro.io import atomic_write_text, read_json
from cotrepro.outputs.plots import human_count, models_by_size
from cotrepro.outputs.transcripts import example_prompts, transcript_text, transcript_title

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}"}
_ASCII = {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "--", "−": "-", "×": "x", "÷": "/", "…": "...",
          "√": "sqrt", "°": " deg", "π": "pi", "€": "EUR", "£": "GBP", "\u00a0": " "}


def ascii_text(text: str) -> str:
    """Text pdfLaTeX can typeset anywhere, verbatim included: typographic characters spelled in
    ASCII, other non-ASCII letters folded, and control characters (random-weight models emit
    them) shown as ``<U+0012>``."""
    text = "".join(_ASCII.get(ch, ch) for ch in str(text)).replace("\t", " ")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch if ch == "\n" or ch.isprintable() else f"<U+{ord(ch):04X}>" for ch in folded)


def tex(text) -> str:
    """Escape ``text`` for LaTeX body text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in ascii_text(text))


def verbatim(text: str) -> str:
    """A framed, line-breaking verbatim block (fvextra) of ``text``."""
    return (f"\\begin{{Verbatim}}[breaklines,breakanywhere,fontsize=\\scriptsize,frame=single]\n"
            f"{ascii_text(text)}\n\\end{{Verbatim}}\n")


def pct(value: float) -> str:
    """A percentage to one decimal; an en dash when missing."""
    return "--" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def _tabular(columns: str, header: list[str], rows: list[list[str]], *, long: bool = False,
             caption: str = "", label: str = "") -> str:
    head = " & ".join(header) + r" \\"
    body = "\n".join(" & ".join(r) + r" \\" if r != ["--midrule--"] else r"\midrule" for r in rows)
    if long:
        cap = f"\\caption{{{caption}}}\\label{{{label}}}\\\\\n" if caption else ""
        return (f"\\begin{{small}}\\begin{{longtable}}{{{columns}}}\n{cap}\\toprule\n{head}\n\\midrule\\endfirsthead\n"
                f"\\toprule\n{head}\n\\midrule\\endhead\n{body}\n\\bottomrule\n\\end{{longtable}}\\end{{small}}\n")
    table = f"\\begin{{tabular}}{{{columns}}}\n\\toprule\n{head}\n\\midrule\n{body}\n\\bottomrule\n\\end{{tabular}}"
    return (f"\\begin{{table}}[htbp]\\centering\\small\n{table}\n"
            + (f"\\caption{{{caption}}}\\label{{{label}}}\n" if caption else "") + "\\end{table}\n")


@dataclass
class PaperInputs:
    """What the fragments are written from (all workflow outputs or config)."""

    accuracy: pd.DataFrame
    significance: pd.DataFrame
    published: pd.DataFrame
    metas: list[dict]
    tasks: list[dict] = field(default_factory=list)
    transcripts: list[dict] = field(default_factory=list)
    demo: bool = False
    model_notes: dict = field(default_factory=dict)

    @classmethod
    def from_paths(cls, *, accuracy: Path, significance: Path, published: Path, metas: list[Path],
                   tasks: list[Path], transcripts: Path, demo: bool, model_notes: dict) -> "PaperInputs":
        """Read every input file."""
        return cls(accuracy=pd.read_csv(accuracy), significance=pd.read_csv(significance),
                   published=pd.read_csv(published), metas=[read_json(p) for p in metas],
                   tasks=[read_json(p) for p in tasks],
                   transcripts=read_json(transcripts), demo=demo, model_notes=model_notes)

    def robust(self) -> pd.DataFrame:
        """Accuracy rows of the robust extraction style."""
        return self.accuracy[self.accuracy["style"] == "robust"]

    def models_by_size(self) -> list[str]:
        """Model slugs, smallest first."""
        return models_by_size(self.accuracy)


def _cell(acc: pd.DataFrame, model: str, task: str, method: str, style: str = "robust") -> pd.Series | None:
    hit = acc[(acc["model"] == model) & (acc["task"] == task) & (acc["method"] == method) & (acc["style"] == style)]
    return None if hit.empty else hit.iloc[0]


def _with_ci(row: pd.Series | None) -> str:
    return "--" if row is None else f"{pct(row['accuracy'])} {{\\scriptsize[{pct(row['ci_low'])}, {pct(row['ci_high'])}]}}"


def _significant(sig: pd.DataFrame, model: str, task: str, a: str, b: str, style: str = "robust") -> pd.Series | None:
    hit = sig[(sig["model"] == model) & (sig["task"] == task) & (sig["method_a"] == a) & (sig["method_b"] == b)
              & (sig["style"] == style)]
    return None if hit.empty else hit.iloc[0]


def _p(row: pd.Series | None) -> str:
    if row is None:
        return "--"
    mark = "$^{*}$" if bool(row["significant"]) else ""
    return f"{row['p_value']:.3f}{mark}" if row["p_value"] >= 0.001 else f"$<$0.001{mark}"


def counted(n: int, noun: str) -> str:
    """``3 tasks``, ``1 task``: a count with its noun in the right number."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def numbers(inp: PaperInputs) -> str:
    """Macros for the numbers the prose uses."""
    acc = inp.robust()
    seconds = sum(m["stats"]["wall_seconds"] for m in inp.metas)
    questions = int(acc.drop_duplicates(["model", "task", "method"])["n"].sum())
    devices = sorted({m["backend"]["device_name"] for m in inp.metas})
    macros = {
        "NumModels": counted(acc["model"].nunique(), "open model"),
        "NumTasks": counted(acc["task"].nunique(), "task"),
        "NumMethods": counted(acc["method"].nunique(), "prompting method"),
        "NumGenerations": counted(len(inp.metas), "generation run"),
        "NumQuestions": counted(questions, "answered question"),
        "GenerationTime": f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s",
        "Hardware": tex(", ".join(devices)),
        "RunKind": "offline demo with random-weight models" if inp.demo else "full reproduction",
    }
    return "".join(f"\\newcommand{{\\{k}}}{{{v}}}\n" for k, v in macros.items())


def models_table(inp: PaperInputs) -> str:
    """Models with repository, resolved revision and parameter count."""
    seen = {}
    for m in inp.metas:
        mm = m["model"]
        seen.setdefault(mm["slug"], [tex(mm["slug"]), tex(mm["repo"] or f"({mm['source']})"),
                                     f"\\texttt{{{tex(str(mm['resolved_revision'])[:12])}}}",
                                     human_count(m["backend"]["parameters"]), tex(m["backend"]["dtype"])])
    rows = [seen[s] for s in inp.models_by_size() if s in seen]
    return _tabular("lllrl", ["model", "repository", "revision", "parameters", "dtype"], rows,
                    caption="Models, with the commit each revision resolved to.", label="tab:models")


def tasks_table(inp: PaperInputs) -> str:
    """Tasks with kind, answer format, records evaluated and source."""
    evaluated = inp.robust().groupby("task")["n"].max().to_dict()
    rows = []
    for t in sorted(inp.tasks, key=lambda t: t["task"]):
        sources = "; ".join(f["source"] for f in t["files"])
        settings = ", ".join(f"{k}={v}" for k, v in sorted((t.get("params") or {}).items()))
        rows.append([tex(t["task"]), tex(t["kind"]), tex(t["answer_format"]),
                     f"{evaluated.get(t['task'], 0)} / {t['records']}",
                     f"\\parbox[t]{{6.2cm}}{{\\raggedright\\footnotesize {tex(sources)}"
                     + (f" ({tex(settings)})" if settings else "") + "}"])
    return _tabular("lllrl", ["task", "kind", "answer", "evaluated / size", "source"], rows,
                    caption="Tasks: questions evaluated out of the test set, and the pinned source of each.",
                    label="tab:tasks")


def method_examples(inp: PaperInputs) -> str:
    """One full example prompt per method (from the generation metadata)."""
    return "\n".join(f"\\paragraph{{{tex(methods.label(m['method']))}}} ({tex(m['model']['slug'])}, "
                     f"{tex(m['task']['key'])})\n{verbatim(text)}" for m, text in example_prompts(inp.metas))


def decoding(inp: PaperInputs) -> str:
    """Decoding settings, as recorded in the generation metadata."""
    if not inp.metas:
        return ""
    m0 = inp.metas[0]
    items = {**m0["backend"]["decoding"], "max new tokens": m0["max_new_tokens"], "on overflow": m0["on_overflow"]}
    lines = "".join(f"\\item {tex(k)}: \\texttt{{{tex(v)}}}\n" for k, v in items.items())
    return f"\\begin{{itemize}}\\setlength\\itemsep{{0pt}}\n{lines}\\end{{itemize}}\n"


def _published_rows(inp: PaperInputs, task: str, pair: tuple[str, str]) -> list[list[str]]:
    pub = inp.published[(inp.published["task"] == task) & (inp.published["method"].isin(pair))]
    rows = []
    for (source, model, note), grp in pub.groupby(["source", "model", pub["note"].fillna("")], sort=False):
        vals = {r.method: r.accuracy for r in grp.itertuples()}
        a, b = vals.get(pair[0]), vals.get(pair[1])
        delta = f"{b - a:+.1f}" if a is not None and b is not None else "--"
        label = f"{model} ({source})" + (f", {note}" if note else "")
        rows.append([f"\\textit{{{tex(label)}}}", pct(a), pct(b), delta, "published"])
    return rows


def comparison_table(inp: PaperInputs, pair: tuple[str, str], caption: str, label: str) -> str:
    """Two methods side by side per task and model, the paired test, then the papers' rows for the task."""
    acc, rows = inp.accuracy, []
    for task in sorted(acc["task"].unique()):
        ours = []
        for model in inp.models_by_size():
            a, b = (_cell(acc, model, task, m) for m in pair)
            if a is None or b is None:
                continue
            sig = _significant(inp.significance, model, task, *pair)
            ours.append([tex(f"{task}: {model}"), _with_ci(a), _with_ci(b),
                         f"{b['accuracy'] - a['accuracy']:+.1f}", _p(sig)])
        if not ours:
            continue
        if rows:
            rows.append(["--midrule--"])
        rows += ours + _published_rows(inp, task, pair)
    if not rows:
        return f"\\paragraph{{}} No model ran both {tex(pair[0])} and {tex(pair[1])}.\n"
    header = ["task: model", tex(methods.label(pair[0])), tex(methods.label(pair[1])), "$\\Delta$",
              "McNemar $p$"]
    return _tabular("lrrrr", header, rows, long=True, caption=caption, label=label)


def all_methods_table(inp: PaperInputs) -> str:
    """Every method per model and task, robust extraction, with intervals; * marks a significant CoT change."""
    acc, rows = inp.accuracy, []
    methods_run = methods.ordered(acc["method"])
    for task in sorted(acc["task"].unique()):
        for model in inp.models_by_size():
            cells = []
            for method in methods_run:
                row = _cell(acc, model, task, method)
                mark = ""
                base = methods.get(method).cot_baseline
                sig = _significant(inp.significance, model, task, base, method) if base else None
                if sig is not None and bool(sig["significant"]):
                    mark = "$^{*}$"
                cells.append(_with_ci(row) + mark)
            if any(c != "--" for c in cells):
                rows.append([tex(task), tex(model)] + cells)
    header = ["task", "model"] + [tex(methods.label(m)) for m in methods_run]
    return _tabular("ll" + "r" * len(methods_run), header, rows, long=True, label="tab:all",
                    caption="Accuracy (\\%, robust extraction) with 95\\% Wilson intervals. $^{*}$: the CoT "
                            "method differs from its non-CoT counterpart on the same questions (exact McNemar "
                            "test, $p<0.05$).")


def style_table(inp: PaperInputs) -> str:
    """Robust against paper-faithful extraction, mean over every generation file."""
    acc = inp.accuracy
    piv = acc.pivot_table(index=["task", "method"], columns="style", values="accuracy", aggfunc="mean").reset_index()
    rows = [[tex(r["task"]), tex(methods.label(r["method"])), pct(r.get("kojima")), pct(r.get("robust"))]
            for _, r in piv.iterrows()]
    return _tabular("llrr", ["task", "method", "paper-faithful", "robust"], rows, long=True, label="tab:styles",
                    caption="Mean accuracy over models (\\%) under the two answer extractions.")


def failures_table(inp: PaperInputs) -> str:
    """Failure fractions per model, task and method."""
    acc = inp.robust().sort_values(["task", "parameters", "model", "method"])
    rows = [[tex(r.task), tex(r.model), tex(methods.label(r.method)), pct(100 * r.frac_no_answer),
             pct(100 * r.frac_hit_max_new_tokens), pct(100 * r.frac_over_context), f"{r.mean_generated_tokens:.0f}"]
            for r in acc.itertuples()]
    return _tabular("lllrrrr", ["task", "model", "method", "no answer", "hit limit", "over context", "tokens"], rows,
                    long=True, label="tab:failures",
                    caption="Failures (\\% of questions): no answer extracted (robust), generation hit the token "
                            "limit, prompt longer than the model's context; and mean generated tokens.")


def transcripts(inp: PaperInputs) -> str:
    """One right and one wrong chain-of-thought answer per model."""
    parts = []
    for t in inp.transcripts:
        parts.append(f"\\paragraph{{{tex(transcript_title(t))}}}\n{verbatim(transcript_text(t))}")
    return "\n".join(parts) or "No chain-of-thought generations were run.\n"


def limitations(inp: PaperInputs) -> str:
    """The caveats that hold for this run, derived from its inputs."""
    items = []
    if inp.demo:
        items.append("This is the offline demo: its models have random weights, so every accuracy is meaningless; "
                     "the document shows that the pipeline runs end to end.")
    robust = inp.robust()
    sizes = {t["task"]: t["records"] for t in inp.tasks}
    partial = sorted(t for t, n in robust.groupby("task")["n"].max().items() if n < sizes.get(t, n))
    if partial:
        items.append(f"Only part of the test set was evaluated for {tex(', '.join(partial))} (config key "
                     "\\texttt{limit}); the intervals are correspondingly wide.")
    own = sorted({m["task"]["key"] for m in inp.metas if (m.get("exemplars") or {}).get("origin") == "project"})
    if own:
        items.append(f"The few-shot exemplars for {tex(', '.join(own))} are the project's own, written in Wei et "
                     "al.'s style, because no pinned source of theirs with a licence that permits reuse was "
                     "found; those few-shot numbers do not use the papers' prompts.")
    over = robust[robust["frac_over_context"] > 0]
    if not over.empty:
        items.append(f"{len(over)} generation files contain prompts longer than the model's context; they were "
                     "generated anyway and are flagged (Table~\\ref{tab:failures}).")
    items += [f"{tex(m)}: {tex(n)}" for m, n in inp.model_notes.items() if n]
    items.append("The published models (PaLM, LaMDA, GPT-3) are not open; the comparison is of trends, not of "
                 "the same models.")
    return "\\begin{itemize}\n" + "".join(f"\\item {i}\n" for i in items) + "\\end{itemize}\n"


FRAGMENTS = {
    "numbers.tex": numbers,
    "models.tex": models_table,
    "tasks.tex": tasks_table,
    "methods.tex": method_examples,
    "decoding.tex": decoding,
    "wei.tex": lambda i: comparison_table(i, ("few_shot", "few_shot_cot"), label="tab:wei",
                                          caption="Few-shot against few-shot CoT (Wei et al.'s comparison), robust "
                                                  "extraction, with the papers' numbers for the same task in "
                                                  "italics. $^{*}$: $p<0.05$."),
    "kojima.tex": lambda i: comparison_table(i, ("zero_shot", "zero_shot_cot"), label="tab:kojima",
                                             caption="Zero-shot against zero-shot CoT (Kojima et al.'s "
                                                     "comparison), robust extraction, with the papers' numbers "
                                                     "in italics. $^{*}$: $p<0.05$."),
    "all.tex": all_methods_table,
    "styles.tex": style_table,
    "failures.tex": failures_table,
    "transcripts.tex": transcripts,
    "limitations.tex": limitations,
}
"""Fragment file name -> writer; paper/main.tex inputs each of them."""


def write_fragments(inp: PaperInputs, out_dir: Path) -> list[Path]:
    """Write every fragment into ``out_dir``; return their paths."""
    out = []
    for name, writer in FRAGMENTS.items():
        path = Path(out_dir) / name
        atomic_write_text(path, "% generated by cotrepro.outputs.paper; do not edit\n" + writer(inp))
        out.append(path)
    return out
