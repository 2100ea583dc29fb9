"""LaTeX fragments for the paper: every number, table and example comes from workflow outputs.

paper/main.tex only ``\\input``s what :func:`write_fragments` writes into
``results/paper/fragments/``; nothing in the manuscript is typed in by hand. The tables are the
frames of :mod:`cotrepro.outputs.tables`, the same the HTML report shows, built from the same
:class:`~cotrepro.outputs.loader.RunOutputs` and typeset by :func:`cotrepro.outputs.latex.latex_table`
(pandas' Styler); a table may leave out columns the page has no room for.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cotrepro import methods
from cotrepro.io import atomic_write_text
from cotrepro.outputs import ablations, exemplar_sources, tables
from cotrepro.outputs.calibration import display as calibration_cells
from cotrepro.outputs.latex import (
    breakable,
    breakable_typewriter,
    latex_table,
    smaller_interval,
    tex,
    verbatim,
)
from cotrepro.outputs.loader import RunOutputs
from cotrepro.outputs.transcripts import example_prompts, transcript_text, transcript_title

HIDDEN = {
    "models": ("requested revision", "implementation", "device", "batch size", "context", "prompt format", "files"),
    "tasks": ("file", "sha256"),
    "accuracy_matrix": ("parameters",),
    "comparison": ("parameters",),
}
"""Per frame of :mod:`cotrepro.outputs.tables`, the columns the page leaves to the HTML report for
want of width (the models table gives our models' sizes)."""


def counted(n: int, noun: str) -> str:
    """``3 tasks``, ``1 task``: a count with its noun in the right number."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def numbers(inp: RunOutputs) -> str:
    """Macros for the numbers the prose uses."""
    acc = inp.robust()
    seconds = tables.generation_seconds(inp.metas)
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


def method_examples(inp: RunOutputs) -> str:
    """One full example prompt per method (from the generation metadata)."""
    return "\n".join(
        f"\\paragraph{{{tex(methods.label(m['method']))}}} ({tex(m['model']['slug'])}, "
        f"{tex(m['task']['key'])})\n{verbatim(text)}"
        for m, text in example_prompts(inp.metas)
    )


def models_table(inp: RunOutputs) -> str:
    """Models with repository, resolved revision, parameter count and dtype."""
    return latex_table(
        tables.models(inp.metas, inp.manifests),
        caption="Models, with the commit each revision resolved to.",
        label="tab:models",
        hide=HIDDEN["models"],
        widths={"resolved revision": "3.4cm"},
        markup={"resolved revision": breakable_typewriter},
    )


def tasks_table(inp: RunOutputs) -> str:
    """Tasks with kind, answer format, questions evaluated out of the test set, and pinned source."""
    return latex_table(
        tables.tasks(inp.tasks, inp.accuracy),
        label="tab:tasks",
        hide=HIDDEN["tasks"],
        caption="Tasks: questions evaluated out of the test set's records, the pinned source "
        "of each and the settings of the generated ones.",
        widths={"source": "3.1cm", "settings": "2.4cm"},
        markup={"source": breakable, "settings": breakable},
    )


def exemplar_sources_table(inp: RunOutputs) -> str:
    """The papers' exemplar sets the run downloaded (file, commit, licence) and every recorded
    difference from what the paper prints, as a list; empty when no such set was used."""
    frame = exemplar_sources.sources(inp.metas)
    if frame.empty:
        return ""
    out = latex_table(
        frame,
        label="tab:exemplar-sources",
        hide=("sha256", "paper"),
        caption="Wei et al.'s few-shot exemplars (the full prompts of their appendix): the pinned file each "
        "set was read from (sha256-checked at download), its licence and the number of exemplars.",
        widths={"source": "4cm", "commit": "2.6cm"},
        markup={"source": breakable, "commit": breakable},
    )
    diffs = exemplar_sources.differences(inp.metas)
    content = diffs[diffs["kind"] == "content"]
    items = [f"\\texttt{{{tex(d.set)}}}, exemplar {d.exemplar}: {tex(d.note)}" for d in content.itertuples()]
    # A note of form shared by several sets is listed once, naming them all.
    for note, sets in diffs[diffs["kind"] == "form"].groupby("note", sort=False)["set"]:
        items.append(", ".join(f"\\texttt{{{tex(n)}}}" for n in sets) + f" (form): {tex(note)}")
    if items:
        out += "Differences from the exemplars the papers print:\n\\begin{itemize}\n"
        out += "".join(f"\\item {i}\n" for i in items) + "\\end{itemize}\n"
    return out


def decoding(inp: RunOutputs) -> str:
    """Decoding settings per method (greedy and sampled methods each on their row), as recorded in
    the generation metadata."""
    frame = tables.decoding(inp.metas)
    if frame.empty:
        return ""
    return latex_table(
        frame,
        label="tab:decoding",
        caption="Decoding per method, as the generation jobs recorded it; a self-consistency method samples "
        "its reasoning paths and answers each greedily.",
        widths={"method": "2.8cm", "decoding": "4cm", "max new tokens": "2.2cm", "stop": "2.8cm"},
        markup={"stop": breakable_typewriter},
    )


MAX_METHOD_COLUMNS = 4
"""Method columns of ``acc [low, high]`` cells that fit the text width beside task and model."""


def all_methods_table(inp: RunOutputs) -> str:
    """Every method per model and task, robust extraction, with intervals; * marks a significant CoT
    change. More methods than the page holds are split: the greedy methods first, then the sampled
    ones (self-consistency) on the tasks they ran on."""
    frame = tables.accuracy_matrix(inp.accuracy, inp.significance, "robust")
    keys = methods.ordered(inp.accuracy["method"])
    caption = (
        "Accuracy (\\%, robust extraction) with 95\\% Wilson intervals. "
        f"{tables.SIGNIFICANT}: the CoT method differs from its non-CoT counterpart on the "
        "same questions (exact McNemar test, $p<0.05$)."
    )
    groups = [keys]
    if len(keys) > MAX_METHOD_COLUMNS:
        groups = [[k for k in keys if not methods.get(k).samples], [k for k in keys if methods.get(k).samples]]
    out = []
    for i, group in enumerate(g for g in groups if g):
        columns = [methods.label(k) for k in group]
        part = frame[["task", "model", "parameters", *columns]]
        part = part[(part[columns] != "").any(axis=1)]
        out.append(
            latex_table(
                part,
                long=True,
                label="tab:all" if i == 0 else "tab:all-sampled",
                hide=HIDDEN["accuracy_matrix"],
                markup=dict.fromkeys(columns, smaller_interval),
                caption=caption
                if i == 0
                else "Accuracy of the sampled methods (self-consistency), as "
                "Table~\\ref{tab:all}, on the tasks they ran on.",
            )
        )
    return "\n".join(out)


def comparison_label(pair: tuple[str, str]) -> str:
    """The \\label of a comparison's table: ``tab:vs-few_shot_cot``."""
    return f"tab:vs-{pair[1]}"


def published_tables(inp: RunOutputs) -> str:
    """The papers' comparisons beside ours, one table per pair of the method registry."""
    pairs = tables.comparison_pairs(inp.accuracy, inp.published)
    if not pairs:
        return "The papers report no numbers for the methods of this run.\n"
    refs = " and~".join(f"\\ref{{{comparison_label(p)}}}" for p in pairs)
    out = [
        f"Table{'s' if len(pairs) > 1 else ''}~{refs} set the papers' comparisons beside ours: per task, our "
        "models with the exact McNemar test on the same questions, then the papers' numbers for the task.\n"
    ]
    for pair in pairs:
        out.append(
            latex_table(
                tables.comparison(inp.accuracy, inp.significance, inp.published, pair),
                long=True,
                label=comparison_label(pair),
                hide=HIDDEN["comparison"],
                widths={"model": "2.5cm", "source": "2.5cm"},
                markup={methods.label(m): smaller_interval for m in pair},
                caption=f"{tex(tables.comparison_title(pair))}, robust extraction. {tables.SIGNIFICANT}: $p<0.05$.",
            )
        )
    return "\n".join(out)


def _red(text: str) -> str:
    return f"\\textcolor{{red}}{{{text}}}" if "disagree" in text else text


def calibration_table(inp: RunOutputs) -> str:
    """The published completions re-scored beside the published numbers (empty when none were re-scored)."""
    if inp.calibration is None or inp.calibration.empty:
        return ""
    cells = pd.DataFrame(calibration_cells(inp.calibration)).drop(columns="missed")
    return (
        "Table~\\ref{tab:calibration} feeds Kojima et al.'s released text-davinci-002 completions to this "
        "project's scoring: the paper-faithful column must give their published accuracy back (a cell that "
        "does not is in red, with the number of answers whose verdict differs from their log's).\n"
        + latex_table(
            cells,
            long=True,
            label="tab:calibration",
            markup={"paper-faithful": _red},
            caption="Calibration: Kojima et al.'s completions (their Table~1) re-scored, accuracy (\\%).",
        )
    )


def style_table(inp: RunOutputs) -> str:
    """Robust against paper-faithful extraction, mean over models."""
    return latex_table(
        tables.extraction_styles(inp.accuracy),
        long=True,
        label="tab:styles",
        caption="Mean accuracy over models (\\%) under the two answer extractions.",
    )


def disagreements_table(inp: RunOutputs) -> str:
    """Per task, model and method: both accuracies beside the number of questions the two extraction
    styles disagree on, by cause (empty when the disagreements were not computed)."""
    if inp.disagreements is None:
        return ""
    return (
        f"Table~\\ref{{tab:disagreements}} counts the questions whose two extractions differ "
        f"({len(inp.disagreements):,} in all), by cause; Appendix~\\ref{{app:disagreements}} shows examples.\n"
        + latex_table(
            tables.disagreement_counts(inp.accuracy, inp.disagreements, compact=True),
            long=True,
            label="tab:disagreements",
            # A published model's name ("text-davinci-002") is as wide as a column of numbers.
            widths={"model": "2cm", "method": "2.4cm", "by cause": "3.2cm"},
            markup={"model": breakable},
            caption="Where the two extractions disagree: accuracy (\\%) under each, the questions (of $n$) whose "
            "predictions differ, and those by cause (the first that holds): number format, the same value written "
            "differently; letter vs text, a choice named by its option's text, not its letter; no answer, one "
            "extraction found none; first vs last, both answers in the text, different ones taken; other.",
        )
    )


def disagreement_examples(inp: RunOutputs) -> str:
    """The appendix: a few disagreeing items per cause, with both predictions and an excerpt."""
    if inp.disagreements is None:
        return ""
    head = "\\section{Extraction disagreements: examples}\\label{app:disagreements}\n"
    if inp.disagreements.empty:
        return head + "The two extractions agree on every question.\n"
    return head + latex_table(
        tables.disagreement_examples(inp.disagreements, per_cause=2),
        long=True,
        label="tab:disagreement-examples",
        hide=("id",),
        widths={
            "model": "1.6cm",
            "task": "1.9cm",
            "method": "1.8cm",
            "paper-faithful": "1.9cm",
            "robust": "1.9cm",
            "excerpt": "2.7cm",
        },
        # Model output has runs with no break point ("CaroCaroCaro...", "::::"): they wrap anywhere.
        markup=dict.fromkeys(("model", "paper-faithful", "robust", "excerpt"), breakable),
        caption="Examples of disagreeing items, two per cause: gold, each extraction's prediction and verdict, "
        "and the text around the answers.",
    )


def failures_table(inp: RunOutputs) -> str:
    """Failure fractions per task, model and method."""
    return latex_table(
        tables.failures(inp.accuracy),
        long=True,
        label="tab:failures",
        widths={"method": "3cm"},
        caption="Failures (\\% of questions): no answer extracted (robust), generation hit the "
        "token limit, prompt longer than the model's context; and mean generated tokens.",
    )


def compute_table(inp: RunOutputs) -> str:
    """Accuracy against test-time compute, with the self-consistency curves (an appendix table)."""
    return latex_table(
        tables.test_time_compute(inp.accuracy, inp.paths),
        long=True,
        label="tab:compute",
        widths={"method": "3cm"},
        caption="Test-time compute: accuracy (\\%, robust extraction, 95\\% interval) against mean generated "
        "tokens per question (both stages); self-consistency at 1, 2, 4, \\ldots{} sampled paths (expected "
        "accuracy of the majority vote over subsets of the paths; no-answer paths do not vote, ties go to the "
        "answer reached first).",
    )


def paths_figure(inp: RunOutputs) -> str:
    """Wang et al.'s Figure 2, with the results, when a self-consistency method ran (else nothing)."""
    if inp.paths is None or inp.paths.empty:
        return ""
    return (
        "\\begin{figure}[htbp]\\centering\n"
        "\\includegraphics[width=\\textwidth,height=0.9\\textheight,keepaspectratio]{paths.pdf}\n"
        "\\caption{Self-consistency: accuracy (robust extraction) against the number of sampled reasoning "
        "paths, with 95\\% intervals; dashed, the same prompt decoded greedily (Wang et al.'s Figure 2).}"
        "\\label{fig:paths}\n\\end{figure}\n"
    )


def strategies_section(inp: RunOutputs) -> str:
    """The choosers over the same sampled paths: Wang et al.'s Table 1 beside ours and the strategies
    figure, when a self-consistency unit ran (their table is the appendix's, :func:`strategies_table`);
    the FLOPs figure in every run."""
    flops = (
        "\\begin{figure}[htbp]\\centering\n"
        "\\includegraphics[width=\\textwidth,height=0.9\\textheight,keepaspectratio]{flops.pdf}\n"
        "\\caption{The compute-matched comparison: accuracy (robust extraction) against FLOPs per question "
        "(about $2\\times$ parameters $\\times$ tokens processed), every model and method a point, every chooser a "
        "line through 1, 2, 4, \\ldots{} sampled paths; coverage, an oracle, is left out.}\\label{fig:flops}\n"
        "\\end{figure}\n"
    )
    table = tables.strategies(inp.accuracy, inp.selection)
    if table.empty:
        return (
            "No self-consistency unit ran, so no chooser; Figure~\\ref{fig:flops} sets the methods on one "
            "compute axis.\n" + flops
        )
    return (
        "Table~\\ref{tab:strategies} (Appendix~\\ref{app:tables}) chooses among each self-consistency unit's "
        "stored paths with every strategy, "
        "without generating again: the majority vote, Wang et al.'s weighted votes (a path weighted by its "
        "probability, from the sum or the mean of its token log-probabilities; summed or averaged over the paths "
        "giving an answer), best-of-N and weighted best-of-N by each verifier's scores, and coverage (pass@k), the "
        "ceiling of every chooser. Table~\\ref{tab:strategy-comparison} sets Wang et al.'s Table~1 beside ours; "
        "Figure~\\ref{fig:strategies} draws every chooser against the number of paths and "
        "Figure~\\ref{fig:flops} against compute.\n"
        + latex_table(
            tables.strategy_comparison(inp.accuracy, inp.selection, inp.published),
            long=True,
            label="tab:strategy-comparison",
            # Six columns of numbers beside four of text: every text column wraps.
            widths={"task": "1.8cm", "model": "1.7cm", "method": "1.4cm", "source": "1.6cm"},
            markup={"task": breakable, "model": breakable, "source": breakable},
            caption="Wang et al.'s Table~1 (PaLM 540B, 40 paths) beside ours: accuracy (\\%) under each aggregation "
            "of the same sampled paths, in their order: greedy decoding; the weighted average and the weighted sum of "
            "the paths' probabilities, unnormalized or normalized by length; the majority vote (their unweighted "
            "sum). Ours on all $k$ paths.",
        )
        + "\\begin{figure}[htbp]\\centering\n"
        "\\includegraphics[width=\\textwidth,height=0.9\\textheight,keepaspectratio]{strategies.pdf}\n"
        "\\caption{Choosers against the number of sampled paths $k'$ (expected accuracy over subsets of the stored "
        "paths, robust extraction), one panel per unit; coverage (pass@$k$) dotted black on top; dashed grey, the same "
        "model's greedy chain of thought.}\\label{fig:strategies}\n\\end{figure}\n" + flops
    )


def strategies_table(inp: RunOutputs) -> str:
    """The choosers' table (an appendix table: a row per unit and strategy) and the verifiers' (weights,
    revision, licence), or a sentence without them."""
    table = tables.strategies(inp.accuracy, inp.selection)
    if table.empty:
        return "No self-consistency unit ran: there is no chooser.\n"
    return verifiers_table(inp) + latex_table(
        table,
        long=True,
        label="tab:strategies",
        widths={"model": "2.3cm", "method": "2.4cm", "strategy": "2.9cm"},
        markup={"model": breakable, "accuracy": smaller_interval},
        caption="Choosers on the same sampled paths: accuracy (\\%, robust extraction, 95\\% interval) on all "
        "$k$ paths of each unit, after the same prompt decoded greedily; coverage is pass@$k$; FLOPs per question "
        "count a verifier's passes for its choosers.",
    )


def verifiers_table(inp: RunOutputs) -> str:
    """The verifiers that scored the paths, with their weights, revision and licence ("" when none did)."""
    frame = tables.verifiers(inp.verifications)
    if frame.empty:
        return ""
    return latex_table(
        frame,
        long=True,
        label="tab:verifiers",
        widths={"weights": "4.2cm", "reads": "3cm", "licence": "2cm"},
        markup={"weights": breakable},
        caption="The verifiers of the best-of-N choosers: whose weights at which revision (a Hub verifier's "
        "resolved commit), parameters, how each reads a path, and its licence as recorded.",
    )


def ablation_tables(inp: RunOutputs) -> str:
    """Kojima et al.'s trigger study beside ours, the spread over exemplar orders and the plain
    against the chat prompt format, for the ablations the run has (a sentence when it has none)."""
    found = ablations.ablation_tables(inp.accuracy, inp.significance, inp.published, inp.every_meta)
    parts = [
        (
            found.triggers,
            "tab:triggers",
            "Reasoning triggers in place of ``Let's think step by step.'' (Kojima et al.'s Table 4): accuracy "
            "(\\%, paper-faithful extraction, 95\\% interval) per model, beside the paper's (text-davinci-002, "
            "MultiArith).",
            {"text": "4.2cm"},
        ),
        (
            found.orders,
            "tab:orders",
            "Exemplar order: accuracy (\\%, robust extraction) with the paper's order, reversed and shuffled "
            "(seeded); spread is the highest minus the lowest, in points.",
            {},
        ),
        (
            found.formats,
            "tab:formats",
            "Prompt format: the plain completion format against the chat template (\\%, robust extraction), "
            "the difference in points and the exact McNemar p on the same questions; n/a where the tokenizer "
            "has no chat template.",
            {"chat": "3.2cm"},
        ),
    ]
    out = "".join(
        latex_table(frame, long=True, label=label, caption=caption, widths=widths)
        for frame, label, caption, widths in parts
        if not frame.empty
    )
    return out or (
        "This run has no prompt ablation (config keys \\texttt{triggers}, \\texttt{exemplar\\_orders}, "
        "\\texttt{prompt\\_formats}).\n"
    )


def batch_invariance_table(inp: RunOutputs) -> str:
    """The reproducibility section's batch-size invariance: per model, the completions that differ
    and the answers that flip when a seeded subset of questions is generated again one at a time."""
    frame = inp.batch_invariance
    if frame is None or frame.empty:
        return (
            "Batch-size invariance was not measured in this run (config key \\texttt{batch\\_invariance} is "
            "null, or no model generates the unit it names).\n"
        )
    differing, n = int(frame["differing_completions"].sum()), int(frame["n"].sum())
    return (
        "Greedy decoding is not batch-invariant by itself: padding changes the shapes, and so the rounding, "
        "of the matrix products. For each model a seeded subset of one unit's questions was generated again "
        "at batch size 1 with the same model, settings, prompts and engine as the batched run; "
        f"{differing} of {n} completions differ (Table~\\ref{{tab:batchinv}}).\n"
        + latex_table(
            tables.batch_invariance(frame),
            label="tab:batchinv",
            # The questions are in each "k of n" cell: the column is the report's.
            hide=("questions",),
            widths={"task": "1.9cm", "method": "1.6cm"},
            caption="Batch-size invariance: completions at batch size 1 against the batched run's; answers that "
            "flip under each extraction; the first differing token of a differing completion.",
        )
    )


def transcripts(inp: RunOutputs) -> str:
    """One right and one wrong chain-of-thought answer per model."""
    parts = []
    for t in inp.transcripts or ():
        parts.append(f"\\paragraph{{{tex(transcript_title(t))}}}\n{verbatim(transcript_text(t))}")
    return "\n".join(parts) or "No chain-of-thought generations were run.\n"


def limitations(inp: RunOutputs) -> str:
    """The caveats that hold for this run, derived from its inputs."""
    items = []
    if inp.demo:
        items.append(
            "This is the offline demo: its models have random weights, so every accuracy is meaningless; "
            "the document shows that the pipeline runs end to end."
        )
    robust = inp.robust()
    sizes = {t["task"]: t["records"] for t in inp.tasks}
    partial = sorted(t for t, n in robust.groupby("task")["n"].max().items() if n < sizes.get(t, n))
    if partial:
        items.append(
            f"Only part of the test set was evaluated for {tex(', '.join(partial))} (config key "
            "\\texttt{limit}); the intervals are correspondingly wide."
        )
    own = sorted({m["task"]["key"] for m in inp.metas if (m.get("exemplars") or {}).get("origin") == "project"})
    if own:
        items.append(
            f"The few-shot exemplars for {tex(', '.join(own))} are the project's own, written in Wei et "
            "al.'s style, because no pinned source of theirs with a licence that permits reuse was "
            "found; those few-shot numbers do not use the papers' prompts."
        )
    over = robust[robust["frac_over_context"] > 0]
    if not over.empty:
        items.append(
            f"{len(over)} generation files contain prompts longer than the model's context; they were "
            "generated anyway and are flagged (Table~\\ref{tab:failures})."
        )
    items += [f"{tex(m)}: {tex(n)}" for m, n in inp.model_notes.items() if n]
    items.append(
        "The published models (PaLM, LaMDA, GPT-3) are not open; the comparison is of trends, not of the same models."
    )
    return "\\begin{itemize}\n" + "".join(f"\\item {i}\n" for i in items) + "\\end{itemize}\n"


FRAGMENTS = {
    "numbers.tex": numbers,
    "models.tex": models_table,
    "tasks.tex": tasks_table,
    "methods.tex": method_examples,
    "exemplars.tex": exemplar_sources_table,
    "decoding.tex": decoding,
    "published.tex": published_tables,
    "calibration.tex": calibration_table,
    "all.tex": all_methods_table,
    "styles.tex": style_table,
    "disagreements.tex": disagreements_table,
    "disagreement_examples.tex": disagreement_examples,
    "failures.tex": failures_table,
    "compute.tex": compute_table,
    "paths.tex": paths_figure,
    "strategies.tex": strategies_section,
    "strategies_table.tex": strategies_table,
    "ablations.tex": ablation_tables,
    "transcripts.tex": transcripts,
    "batch_invariance.tex": batch_invariance_table,
    "limitations.tex": limitations,
}
"""Fragment file name -> writer; paper/main.tex inputs each of them."""


def write_fragments(inp: RunOutputs, out_dir: Path) -> list[Path]:
    """Write every fragment into ``out_dir``; return their paths."""
    out = []
    for name, writer in FRAGMENTS.items():
        path = Path(out_dir) / name
        atomic_write_text(path, "% generated by cotrepro.outputs.paper; do not edit\n" + writer(inp))
        out.append(path)
    return out
