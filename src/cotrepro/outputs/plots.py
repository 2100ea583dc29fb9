"""Figures from results/accuracy.csv (and the papers' numbers): scaling curves, the method
comparison, test-time compute, and failure fractions; from results/selection.csv, the choosers
against sampled paths and every model, method and chooser against FLOPs per question.

One colour per method everywhere (declared in :mod:`cotrepro.methods`). Accuracies are the robust
extraction style with 95% Wilson intervals; the paper-faithful style is drawn dashed beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from cotrepro import methods  # noqa: E402
from cotrepro.outputs import strategies  # noqa: E402
from cotrepro.outputs.published import main_rows  # noqa: E402
from cotrepro.outputs.sizes import human_count, models_by_size  # noqa: E402

STYLE_LINES = {"robust": "-", "kojima": "--"}
REFERENCE_MARKERS = {"PaLM": "s", "LaMDA": "^", "GPT-3": "D"}
"""The papers' model families drawn as reference curves, one marker each."""
TEXT_WIDTH = 6.5
"""The paper's text width in inches (A4, 2.2 cm margins): figures are made at the size they are printed."""
PRINT_STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
}
"""Font sizes at print size: nothing below 7 pt once the figure is set at the text width."""
matplotlib.rcParams.update(PRINT_STYLE)
MAX_HEIGHT = 8.3
"""The tallest a figure is made (inches): a float page of the paper holds it with its caption
unshrunk (the paper caps figures at 0.9 of the text height, 8.96 in)."""
FAILURES = {
    "frac_no_answer": "no answer extracted",
    "frac_hit_max_new_tokens": "hit the token limit",
    "frac_over_context": "prompt over context",
}


def _dodged(n_groups: int, j: int, n_bars: int, width: float) -> list[float]:
    """x positions of the ``j``-th of ``n_bars`` side-by-side bars in each of ``n_groups`` groups."""
    return [i + (j - (n_bars - 1) / 2) * width for i in range(n_groups)]


def _methods(df: pd.DataFrame) -> list[str]:
    return methods.ordered(df["method"])


def _save(fig, outputs: dict[str, Path], name: str) -> None:
    for ext in ("png", "pdf"):
        path = outputs.get(f"{name}.{ext}")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # No creation date in the PDF, so an unchanged figure is byte-identical. Every figure is laid
            # out by tight_layout already; bbox_inches="tight" would draw it once more per file.
            fig.savefig(path, dpi=150, metadata={"CreationDate": None} if ext == "pdf" else None)
    plt.close(fig)


def _accuracy_axes(ax, xlabel: str, title: str) -> None:
    """Label a panel whose y axis is accuracy in percent."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)


def panel_grid(n: int, width: float, height: float, max_columns: int):
    """A figure of the text's width with ``n`` panels in rows of at most ``max_columns``, ``height``
    inches a row (``width`` is kept for callers; the text width decides); unused panels are hidden."""
    columns = min(n, max_columns)
    rows = -(-n // columns)
    # The whole figure is as wide as the text: panels are sized to it, never shrunk afterwards.
    fig, axes = plt.subplots(rows, columns, figsize=(TEXT_WIDTH, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def reference_curves(published: pd.DataFrame | None, task: str, shown: Sequence[str]) -> list[dict]:
    """The papers' PaLM, LaMDA and GPT-3 series for ``task``: one per (paper, family, method), 2+ sizes."""
    if published is None or published.empty:
        return []
    pub = main_rows(published)
    pub = pub[(pub["task"] == task) & (pub["method"].isin(shown))].copy()
    pub["family"] = pub["model"].str.split().str[0]
    pub["paper"] = pub["source"].str.split().str[0]
    pub = pub[pub["family"].isin(REFERENCE_MARKERS)]
    curves = []
    for (paper, family, method), grp in pub.groupby(["paper", "family", "method"]):
        grp = grp.sort_values("params_b")
        if grp["params_b"].nunique() >= 2:
            curves.append(
                {
                    "paper": paper,
                    "family": family,
                    "method": method,
                    "parameters": (grp["params_b"] * 1e9).tolist(),
                    "accuracy": grp["accuracy"].tolist(),
                }
            )
    return curves


def _log_size_axis(ax, sizes, reference: Sequence[Sequence[float]] = ()) -> None:
    """A log parameter axis that spans at least a decade around every point, with labelled ticks:
    one model size alone would otherwise leave the axis without a labelled decade."""
    values = [float(v) for v in sizes] + [float(v) for curve in reference for v in curve]
    low, high = min(values) / 2, max(values) * 2
    if high / low < 10:
        mid = (low * high) ** 0.5
        low, high = mid / 3.2, mid * 3.2
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: human_count(x)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _unique_handles(axes) -> list:
    """The legend entries of all panels, each label once, in the order first drawn."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    return list(seen.values())


def _shared_legend(fig, handles: list, title: str) -> None:
    """One legend for the whole figure, above the panels: the figure grows by the legend's height,
    so that the panels keep theirs, and the panels are laid out below it."""
    longest = max((len(h.get_label()) for h in handles), default=0)
    # Three columns of 7 pt labels fit the text width up to about 35 characters a label.
    columns = min(len(handles), 3 if longest <= 35 else 2) or 1
    rows = -(-len(handles) // columns)
    legend_height = 0.12 + 0.16 * rows
    fig.set_figheight(fig.get_figheight() + legend_height)
    top = 1 - legend_height / fig.get_figheight()
    # A little room at the right: the last panel's last tick label is centred on the axis end.
    fig.tight_layout(rect=(0, 0, 0.985, top))
    if handles:
        fig.legend(handles=handles, loc="upper center", ncol=columns, title=title, frameon=False)


def scaling_figure(df: pd.DataFrame, published: pd.DataFrame | None = None):
    """Accuracy against parameter count (log axis), one line per method, one panel per task,
    with the papers' model families as dotted reference curves; the tasks the papers report come first."""
    reported = set() if published is None or published.empty else set(main_rows(published)["task"])
    tasks = sorted(df["task"].unique(), key=lambda t: (t not in reported, t))
    fig, axes = panel_grid(len(tasks), 0, 1.8, max_columns=4)
    families = set()
    for ax, task in zip(axes, tasks, strict=True):
        sub = df[df["task"] == task]
        shown = _methods(sub)
        for curve in reference_curves(published, task, shown):
            families.add(curve["family"])
            ax.plot(
                curve["parameters"],
                curve["accuracy"],
                linestyle=":",
                linewidth=1.2,
                alpha=0.7,
                marker=REFERENCE_MARKERS[curve["family"]],
                markersize=4,
                color=methods.color(curve["method"]),
            )
        for method in shown:
            # No dodge along the log axis: with one model size it pushed the methods to the ends of an
            # empty axis. Equal accuracies overlap; the table gives them.
            for style, line in STYLE_LINES.items():
                pts = sub[(sub["method"] == method) & (sub["style"] == style)].sort_values("parameters")
                if pts.empty:
                    continue
                robust = style == "robust"
                ax.errorbar(
                    pts["parameters"],
                    pts["accuracy"],
                    yerr=[pts["accuracy"] - pts["ci_low"], pts["ci_high"] - pts["accuracy"]] if robust else None,
                    color=methods.color(method),
                    linestyle=line,
                    marker="o" if robust else None,
                    alpha=1.0 if robust else 0.6,
                    capsize=3,
                    label=methods.label(method) if robust else None,
                )
        ax.set_xscale("log")
        _log_size_axis(ax, sub["parameters"], [c["parameters"] for c in reference_curves(published, task, shown)])
        ax.set_xlabel("parameters")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    handles = _unique_handles(axes)
    handles += [
        Line2D([], [], color="grey", linestyle=":", marker=REFERENCE_MARKERS[f], label=f"{f} (published)")
        for f in sorted(families)
    ]
    _shared_legend(fig, handles, "solid: robust, dashed: paper-faithful extraction")
    return fig


def methods_figure(df: pd.DataFrame):
    """Heat maps of accuracy (robust extraction), one panel per method: a row per task, a column per
    model (smallest first), each cell with its accuracy; the panel's title in the method's colour.
    Every method, model and task of a full run fits one page at print size, which bar grids did not."""
    robust = df[df["style"] == "robust"]
    tasks = sorted(robust["task"].unique())
    models = models_by_size(robust)
    shown = _methods(robust)
    columns = min(len(shown), 3) or 1
    rows = -(-len(shown) // columns) or 1
    # A row of cells is 0.17 in (7 pt numbers fit); the rotated model names and the title take 1.3 in.
    panel_height = 0.17 * len(tasks) + 0.3 + 0.06 * max((len(m) for m in models), default=0)
    fig, axes = plt.subplots(
        rows, columns, figsize=(TEXT_WIDTH, min(MAX_HEIGHT, panel_height * rows + 0.6)), squeeze=False
    )
    flat = list(axes.flat)
    for ax in flat[len(shown) :]:
        ax.set_visible(False)
    image = None
    for ax, method in zip(flat, shown, strict=False):
        grid = (
            robust[robust["method"] == method]
            .pivot_table(index="task", columns="model", values="accuracy")
            .reindex(index=tasks, columns=models)
        )
        image = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for (i, j), value in np.ndenumerate(grid.to_numpy()):
            if not np.isnan(value):
                # Dark cells get white numbers, light ones black, so that each stays readable.
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 60 else "black")  # fmt: skip
        ax.set_xticks(range(len(models)), models, rotation=90)
        ax.set_yticks(range(len(tasks)), tasks)
        ax.tick_params(length=0)
        # Long labels ("... + self-consistency") take two lines over a third of the text width.
        ax.set_title(methods.label(method).replace(" + ", "\n+ "), color=methods.color(method), fontweight="bold")
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0.75 / height, 0.985, 1))
    if image is not None:
        bar = fig.colorbar(image, cax=fig.add_axes((0.3, 0.38 / height, 0.4, 0.09 / height)), orientation="horizontal")
        bar.set_label("accuracy (%, robust extraction); blank: not run")
    return fig


MODEL_MARKERS = "osD^vP*Xh<>p"
"""One marker a model (smallest first) in the compute figure; colour is the method's."""


def compute_figure(df: pd.DataFrame, paths: pd.DataFrame | None = None):
    """Test-time compute: accuracy against mean generated tokens per question, one panel per task,
    colour for the method and marker for the model; each self-consistency run also as a curve
    through its points at 1, 2, 4, ... sampled paths. Rows without token counts (published
    completions) are left out, never drawn at a stand-in count; a run with none says so."""
    robust = df[df["style"] == "robust"]
    counted = robust[robust["mean_generated_tokens"] > 0]
    curves = paths[paths["style"] == "robust"] if paths is not None and not paths.empty else None
    if counted.empty:
        fig = plt.figure(figsize=(TEXT_WIDTH, 1.0))
        fig.text(0.5, 0.5, "No token counts in this run (published completions carry none): nothing to plot.",
                 ha="center", va="center")  # fmt: skip
        return fig
    tasks = sorted(counted["task"].unique())
    marker = {m: MODEL_MARKERS[i % len(MODEL_MARKERS)] for i, m in enumerate(models_by_size(counted))}
    fig, axes = panel_grid(len(tasks), 0, 1.6, max_columns=4)
    for ax, task in zip(axes, tasks, strict=True):
        sub = counted[counted["task"] == task]
        for (_model, method), curve in (
            () if curves is None else curves[curves["task"] == task].groupby(["model", "method"])
        ):
            ax.plot(curve["mean_generated_tokens"], curve["accuracy"], color=methods.color(method),
                    linewidth=0.8, alpha=0.6, zorder=2)  # fmt: skip
        for method in _methods(sub):
            for model, pts in sub[sub["method"] == method].groupby("model"):
                ax.scatter(pts["mean_generated_tokens"], pts["accuracy"], color=methods.color(method),
                           marker=marker[model], s=22, edgecolor="black", linewidth=0.3, zorder=3,
                           label=methods.label(method))  # fmt: skip
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1,), numticks=12))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        values = sub["mean_generated_tokens"].tolist() + (
            [] if curves is None else curves[curves["task"] == task]["mean_generated_tokens"].tolist()
        )
        # At least a decade around the points, so that a labelled tick always falls inside.
        low, high = min(values) / 1.6, max(values) * 1.6
        if high / low < 12:
            mid = (low * high) ** 0.5
            low, high = mid / 3.5, mid * 3.5
        ax.set_xlim(low, high)
        ax.set_ylim(0, 100)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    fig.supxlabel("mean generated tokens per question (log scale)", fontsize=8)
    fig.supylabel("accuracy (%, robust extraction)", fontsize=8)
    handles = _unique_handles(axes)
    handles = [
        Line2D([], [], color=h.get_facecolor()[0], marker="o", linestyle="", label=h.get_label()) for h in handles
    ]
    handles += [Line2D([], [], color="grey", marker=mk, linestyle="", label=m) for m, mk in marker.items()]
    _shared_legend(fig, handles, "colour: method, marker: model; lines: self-consistency at 1, 2, 4, ... paths")
    return fig


def failures_figure(df: pd.DataFrame):
    """Failure fractions (% of questions, mean over tasks) per model and method, one panel per kind."""
    robust = df[df["style"] == "robust"]
    models = models_by_size(robust)
    shown = _methods(robust)
    means = robust.groupby(["model", "method"])[list(FAILURES)].mean()
    fig, axes = plt.subplots(1, len(FAILURES), figsize=(TEXT_WIDTH, 3.0), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(shown))
    for ax, (column, title) in zip(axes[0], FAILURES.items(), strict=True):
        for j, method in enumerate(shown):
            xs = _dodged(len(models), j, len(shown), width)
            ys = [100 * means[column].get((m, method), float("nan")) for m in models]
            ax.bar(xs, ys, width, color=methods.color(method), label=methods.label(method))
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        # Each panel keeps its own labels: a shared axis would leave the others unlabelled.
        ax.tick_params(labelleft=True)
    axes[0][0].set_ylabel("% of questions (mean over tasks)")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def _paths_axis(ax, paths: pd.Series) -> None:
    """A log-2 axis of sampled paths with a tick at each count the run has, accuracy 0-100 on y."""
    ax.set_xscale("log", base=2)
    counts = sorted(paths.unique())
    # Ticks at the path counts the run has (1, 2, 4, ..., 40), not at powers of 2 beyond them.
    ax.set_xticks(counts, [f"{c:g}" for c in counts])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(counts[0] / 1.3, counts[-1] * 1.3)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)


def _greedy_accuracy(df: pd.DataFrame, model: str, task: str, method: str) -> float | None:
    """The robust accuracy of ``method``'s greedy counterpart for the same model and task, if it ran."""
    base = df[
        (df["style"] == "robust")
        & (df["task"] == task)
        & (df["model"] == model)
        & (df["method"] == methods.get(method).greedy_counterpart)
    ]
    return None if base.empty else float(base["accuracy"].iloc[0])


def paths_figure(df: pd.DataFrame, paths: pd.DataFrame):
    """Accuracy against the number of sampled reasoning paths (Wang et al.'s Figure 2): one panel per
    task, a curve per model and self-consistency method with its interval, and the same prompt
    decoded greedily as a flat dashed line."""
    robust = paths[paths["style"] == "robust"]
    tasks = sorted(robust["task"].unique())
    fig, axes = panel_grid(len(tasks), 0, 1.75, max_columns=4)
    for ax, task in zip(axes, tasks, strict=True):
        sub = robust[robust["task"] == task]
        for i, ((model, method), curve) in enumerate(sub.groupby(["model", "method"])):
            color, marker = methods.color(method), "os^Dv<>"[i % 7]
            ax.plot(
                curve["paths"], curve["accuracy"], color=color, marker=marker, label=f"{model}, {methods.label(method)}"
            )
            ax.fill_between(curve["paths"], curve["ci_low"], curve["ci_high"], color=color, alpha=0.12, linewidth=0)
            base = _greedy_accuracy(df, model, task, method)
            if base is not None:
                ax.axhline(base, color=color, linestyle="--", linewidth=1)
        _paths_axis(ax, sub["paths"])
        ax.set_title(task)
    fig.supxlabel("sampled reasoning paths (log scale)", fontsize=8)
    fig.supylabel("accuracy (%, robust extraction)", fontsize=8)
    _shared_legend(fig, _unique_handles(axes), "dashed: greedy decoding of the same prompt")
    return fig


STRATEGY_ROW_HEIGHT = 1.5
"""Inches a row of the strategies figure takes (three panels a row: a title names model, task and method)."""
MAX_STRATEGY_PANELS = 3 * int((MAX_HEIGHT - 1.2) // STRATEGY_ROW_HEIGHT)
"""The panels the strategies figure holds with its legend on one page."""


def _note_figure(text: str):
    """A one-line figure that says why there is nothing to plot."""
    fig = plt.figure(figsize=(TEXT_WIDTH, 1.0))
    fig.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def _strategy_line(strategy: str, verifier: str, verifiers: Sequence[str]) -> dict:
    """Colour by strategy, line style by verifier; coverage, the oracle, dotted black on top."""
    if strategy == "coverage":
        return {"color": strategies.COLORS[strategy], "linestyle": ":", "linewidth": 1.6, "zorder": 4}
    style = strategies.VERIFIER_LINES[list(verifiers).index(verifier) % 4] if verifier else "-"
    return {"color": strategies.COLORS.get(strategy, "grey"), "linestyle": style, "linewidth": 1.0, "zorder": 3}


def strategy_units(selection: pd.DataFrame, df: pd.DataFrame) -> tuple[list[tuple[str, str, str]], bool]:
    """The (model, task, method) units the strategies figure draws, by task, method and model size
    (from accuracy.csv, ``df``), and whether some were left out: past :data:`MAX_STRATEGY_PANELS`, only
    each task and method's largest model is drawn (results/selection.csv and the table have every unit)."""
    units = selection.drop_duplicates(["model", "task", "method"])
    by_size = {m: i for i, m in enumerate(models_by_size(df))}
    shown = methods.ordered(units["method"])
    ordered = sorted(
        zip(units["model"], units["task"], units["method"], strict=True),
        key=lambda u: (u[1], shown.index(u[2]), by_size.get(u[0], -1)),
    )
    if len(ordered) <= MAX_STRATEGY_PANELS:
        return ordered, False
    largest = {}
    for unit in ordered:  # the last of a task and method is its largest model
        largest[unit[1:]] = unit
    return list(largest.values())[:MAX_STRATEGY_PANELS], True


def strategies_figure(df: pd.DataFrame, selection: pd.DataFrame):
    """Accuracy against the number of sampled paths k' per chooser (the HF search-and-learn study's
    figure): one panel per self-consistency unit, a curve per strategy (and verifier), coverage
    (pass@k) dotted on top, and the greedy CoT accuracy of the same model and task dashed."""
    robust = selection[selection["style"] == "robust"] if selection is not None else pd.DataFrame()
    if robust.empty:
        return _note_figure("No self-consistency unit in this run: no chooser to plot.")
    verifiers = sorted(v for v in robust["verifier"].unique() if v)
    units, partial = strategy_units(robust, df)
    fig, axes = panel_grid(len(units), 0, STRATEGY_ROW_HEIGHT, max_columns=3)
    for ax, (model, task, method) in zip(axes, units, strict=True):
        sub = robust[(robust["model"] == model) & (robust["task"] == task) & (robust["method"] == method)]
        for (strategy, verifier), curve in sub.groupby(["strategy", "verifier"], sort=False):
            line = _strategy_line(strategy, verifier, verifiers)
            ax.plot(
                curve["paths"],
                curve["accuracy"],
                marker="o",
                markersize=2.5,
                label=strategies.label(strategy, verifier),
                **line,
            )
        base = _greedy_accuracy(df, model, task, method)
        if base is not None:
            ax.axhline(base, color="grey", linestyle="--", linewidth=1, label="greedy CoT")
        _paths_axis(ax, sub["paths"])
        ax.set_title(f"{model}\n{task}, {strategies.short_method(methods.label(method))}")
    fig.supxlabel("sampled reasoning paths k' (log scale)", fontsize=8)
    fig.supylabel("accuracy (%, robust extraction)", fontsize=8)
    handles = sorted(_unique_handles(axes), key=lambda h: h.get_label() == "greedy CoT")
    title = "dashed grey: greedy CoT of the same model and task"
    _shared_legend(fig, handles, title + ("; largest model per task and method" if partial else ""))
    return fig


def flops_figure(df: pd.DataFrame, selection: pd.DataFrame | None = None):
    """The compute-matched comparison: accuracy against FLOPs per question (log axis), one panel per
    task; every model and method of accuracy.csv as a point (colour: method, marker: model) and each
    chooser of results/selection.csv as a curve through k' = 1, 2, 4, ... paths (colour: strategy).
    Coverage is left out (an oracle, not a choice one can pay for); so are rows without a FLOP count."""
    points = df[(df["style"] == "robust") & (df.get("flops_per_question", pd.Series(dtype=float)) > 0)]
    curves = pd.DataFrame()
    if selection is not None and not selection.empty:
        curves = selection[
            (selection["style"] == "robust")
            & (selection["strategy"] != "coverage")
            & (selection["flops_per_question"] > 0)
        ]
    if points.empty and curves.empty:
        return _note_figure("No FLOP counts in this run (published completions carry none): nothing to plot.")
    tasks = sorted(set(points["task"]) | set(curves["task"] if not curves.empty else ()))
    marker = {m: MODEL_MARKERS[i % len(MODEL_MARKERS)] for i, m in enumerate(models_by_size(points))}
    verifiers = sorted(v for v in curves["verifier"].unique() if v) if not curves.empty else []
    fig, axes = panel_grid(len(tasks), 0, 1.6, max_columns=4)
    for ax, task in zip(axes, tasks, strict=True):
        xs = []
        if not curves.empty:
            sub = curves[curves["task"] == task]
            for (_m, _meth, strategy, verifier), curve in sub.groupby(
                ["model", "method", "strategy", "verifier"], sort=False
            ):
                line = _strategy_line(strategy, verifier, verifiers)
                ax.plot(
                    curve["flops_per_question"],
                    curve["accuracy"],
                    alpha=0.7,
                    label=strategies.label(strategy, verifier),
                    **line,
                )
            xs += sub["flops_per_question"].tolist()
        mine = points[points["task"] == task]
        for method in _methods(mine):
            for model, pts in mine[mine["method"] == method].groupby("model"):
                ax.scatter(pts["flops_per_question"], pts["accuracy"], color=methods.color(method),
                           marker=marker.get(model, "o"), s=22, edgecolor="black", linewidth=0.3, zorder=5,
                           label=methods.label(method))  # fmt: skip
        xs += mine["flops_per_question"].tolist()
        ax.set_xscale("log")
        low, high = min(xs) / 2, max(xs) * 2
        if high / low < 12:  # at least a decade, so that a labelled tick always falls inside
            mid = (low * high) ** 0.5
            low, high = mid / 3.5, mid * 3.5
        ax.set_xlim(low, high)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1,), numticks=12))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0, 100)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    fig.supxlabel("FLOPs per question (log scale; about 2 x parameters x tokens processed)", fontsize=8)
    fig.supylabel("accuracy (%, robust extraction)", fontsize=8)
    handles = []
    for h in _unique_handles(axes):
        if isinstance(h, Line2D):
            handles.append(h)
        else:  # a method's points: shown as a filled circle, the model is the marker's business
            handles.append(Line2D([], [], color=h.get_facecolor()[0], marker="o", linestyle="", label=h.get_label()))
    # The methods' points first, then the choosers' lines, then the models' markers.
    handles = sorted(handles, key=lambda h: h.get_linestyle() != "None")
    handles += [Line2D([], [], color="grey", marker=mk, linestyle="", label=m) for m, mk in marker.items()]
    _shared_legend(fig, handles, "points: methods (colour) by model (marker); lines: choosers at 1, 2, 4, ... paths")
    return fig


def draw_figures(
    df: pd.DataFrame,
    outputs: Sequence[Path],
    published: pd.DataFrame | None = None,
    paths: pd.DataFrame | None = None,
    selection: pd.DataFrame | None = None,
) -> None:
    """Write every requested figure; ``outputs`` are paths named ``{figure}.{png|pdf}``; ``paths`` is
    results/accuracy_vs_paths.csv (the self-consistency curves), ``selection`` results/selection.csv
    (every chooser's)."""
    by_name = {Path(p).name: Path(p) for p in outputs}
    makers = {
        "scaling": lambda: scaling_figure(df, published),
        "methods": lambda: methods_figure(df),
        "compute": lambda: compute_figure(df, paths),
        "failures": lambda: failures_figure(df),
        "paths": lambda: paths_figure(df, paths),
        "strategies": lambda: strategies_figure(df, selection),
        "flops": lambda: flops_figure(df, selection),
    }
    for name, make in makers.items():
        if f"{name}.png" in by_name or f"{name}.pdf" in by_name:
            _save(make(), by_name, name)
