"""Figures from results/accuracy.csv (and the papers' numbers): scaling curves, the method
comparison, test-time compute, and failure fractions.

One colour per method everywhere (declared in :mod:`cotrepro.methods`). Accuracies are the robust
extraction style with 95% Wilson intervals; the paper-faithful style is drawn dashed beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from cotrepro import methods  # noqa: E402
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
    """One legend for the whole figure, above the panels, and the panels laid out below it."""
    columns = min(len(handles), 3) or 1
    rows = -(-len(handles) // columns)
    top = 1 - (0.12 + 0.16 * rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    if handles:
        fig.legend(handles=handles, loc="upper center", ncol=columns, title=title, frameon=False)


def scaling_figure(df: pd.DataFrame, published: pd.DataFrame | None = None):
    """Accuracy against parameter count (log axis), one line per method, one panel per task,
    with the papers' model families as dotted reference curves."""
    tasks = sorted(df["task"].unique())
    fig, axes = panel_grid(len(tasks), 0, 1.9, max_columns=4)
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
    """Grouped bars: accuracy of each method per model (robust extraction), one panel per task."""
    tasks = sorted(df["task"].unique())
    robust = df[df["style"] == "robust"]
    fig, axes = panel_grid(len(tasks), 0, 2.2, max_columns=3)
    for ax, task in zip(axes, tasks, strict=True):
        sub = robust[robust["task"] == task]
        models = models_by_size(sub)
        shown = _methods(sub)
        width = 0.8 / max(1, len(shown))
        for j, method in enumerate(shown):
            rows = sub[sub["method"] == method].set_index("model").reindex(models)
            xs = _dodged(len(models), j, len(shown), width)
            ax.bar(
                xs,
                rows["accuracy"],
                width,
                color=methods.color(method),
                label=methods.label(method),
                yerr=[rows["accuracy"] - rows["ci_low"], rows["ci_high"] - rows["accuracy"]],
                capsize=2,
            )
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{task}: methods per model (robust extraction, 95% CI)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(ncol=min(len(shown), 3))
    fig.tight_layout()
    return fig


def compute_figure(df: pd.DataFrame, paths: pd.DataFrame | None = None):
    """Test-time compute: accuracy against mean generated tokens per question, one panel per task;
    each self-consistency run also as a curve through its points at 1, 2, 4, ... sampled paths."""
    tasks = sorted(df["task"].unique())
    robust = df[df["style"] == "robust"]
    curves = paths[paths["style"] == "robust"] if paths is not None and not paths.empty else None
    fig, axes = panel_grid(len(tasks), 0, 1.9, max_columns=4)
    for ax, task in zip(axes, tasks, strict=True):
        # Rows without token counts (published completions) are left out, never drawn at 1 token.
        sub = robust[(robust["task"] == task) & (robust["mean_generated_tokens"] > 0)]
        for (_model, method), curve in (
            () if curves is None else curves[curves["task"] == task].groupby(["model", "method"])
        ):
            ax.plot(
                curve["mean_generated_tokens"].clip(lower=1),
                curve["accuracy"],
                color=methods.color(method),
                marker=".",
                linewidth=1,
                alpha=0.8,
                zorder=2,
            )
        for method in _methods(sub):
            pts = sub[sub["method"] == method]
            ax.scatter(
                pts["mean_generated_tokens"].clip(lower=1),
                pts["accuracy"],
                color=methods.color(method),
                s=36,
                label=methods.label(method),
                edgecolor="black",
                linewidth=0.4,
                zorder=3,
            )
            for r in pts.itertuples():
                ax.annotate(
                    r.model,
                    (max(r.mean_generated_tokens, 1), r.accuracy),
                    fontsize=7,
                    alpha=0.75,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_xscale("log")
        # Labelled ticks at 1-2-5 steps: the token range of one task is often under a decade.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        _accuracy_axes(ax, "mean generated tokens per question (log scale)", f"{task}: accuracy vs test-time compute")
    axes[0].legend(title="method (robust extraction)")
    fig.tight_layout()
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
    axes[0][0].set_ylabel("% of questions (mean over tasks)")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def paths_figure(df: pd.DataFrame, paths: pd.DataFrame):
    """Accuracy against the number of sampled reasoning paths (Wang et al.'s Figure 2): one panel per
    task, a curve per model and self-consistency method with its interval, and the same prompt
    decoded greedily as a flat dashed line."""
    robust = paths[paths["style"] == "robust"]
    greedy = df[df["style"] == "robust"]
    tasks = sorted(robust["task"].unique())
    fig, axes = panel_grid(len(tasks), 0, 1.9, max_columns=4)
    for ax, task in zip(axes, tasks, strict=True):
        sub = robust[robust["task"] == task]
        for i, ((model, method), curve) in enumerate(sub.groupby(["model", "method"])):
            color, marker = methods.color(method), "os^Dv<>"[i % 7]
            ax.plot(
                curve["paths"], curve["accuracy"], color=color, marker=marker, label=f"{model}, {methods.label(method)}"
            )
            ax.fill_between(curve["paths"], curve["ci_low"], curve["ci_high"], color=color, alpha=0.12, linewidth=0)
            base = greedy[
                (greedy["task"] == task)
                & (greedy["model"] == model)
                & (greedy["method"] == methods.get(method).greedy_counterpart)
            ]
            if not base.empty:
                ax.axhline(float(base["accuracy"].iloc[0]), color=color, linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        _accuracy_axes(ax, "sampled reasoning paths (log scale)", f"{task}: self-consistency")
    axes[0].legend(title="dashed: greedy decoding of the same prompt")
    fig.tight_layout()
    return fig


def draw_figures(
    df: pd.DataFrame,
    outputs: Sequence[Path],
    published: pd.DataFrame | None = None,
    paths: pd.DataFrame | None = None,
) -> None:
    """Write every requested figure; ``outputs`` are paths named ``{figure}.{png|pdf}``; ``paths`` is
    results/accuracy_vs_paths.csv (the self-consistency curves)."""
    by_name = {Path(p).name: Path(p) for p in outputs}
    makers = {
        "scaling": lambda: scaling_figure(df, published),
        "methods": lambda: methods_figure(df),
        "compute": lambda: compute_figure(df, paths),
        "failures": lambda: failures_figure(df),
        "paths": lambda: paths_figure(df, paths),
    }
    for name, make in makers.items():
        if f"{name}.png" in by_name or f"{name}.pdf" in by_name:
            _save(make(), by_name, name)
