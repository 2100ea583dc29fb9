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
    """A figure with ``n`` panels in rows of at most ``max_columns``; unused panels are hidden."""
    columns = min(n, max_columns)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
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


def scaling_figure(df: pd.DataFrame, published: pd.DataFrame | None = None):
    """Accuracy against parameter count (log axis), one line per method, one panel per task,
    with the papers' model families as dotted reference curves."""
    tasks = sorted(df["task"].unique())
    fig, axes = panel_grid(len(tasks), 5.2, 4, max_columns=3)
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
        for j, method in enumerate(shown):
            # Methods are dodged a little along the log axis so equal accuracies stay visible.
            dodge = 1 + 0.015 * (j - (len(shown) - 1) / 2)
            for style, line in STYLE_LINES.items():
                pts = sub[(sub["method"] == method) & (sub["style"] == style)].sort_values("parameters")
                if pts.empty:
                    continue
                robust = style == "robust"
                ax.errorbar(
                    pts["parameters"] * dodge,
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
        sizes = sorted(sub["parameters"].unique())
        if families:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: human_count(x)))
        else:
            ax.set_xticks(sizes, [human_count(p) for p in sizes])  # one tick per model size
            ax.set_xlim(min(sizes) / 1.3, max(sizes) * 1.3)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("model parameters (log scale)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    handles, _ = axes[0].get_legend_handles_labels()
    handles += [
        Line2D([], [], color="grey", linestyle=":", marker=REFERENCE_MARKERS[f], label=f"{f} (published)")
        for f in sorted(families)
    ]
    axes[0].legend(
        handles=handles, title="method (solid: robust, dashed: paper-faithful extraction)", fontsize=8, title_fontsize=8
    )
    fig.tight_layout()
    return fig


def methods_figure(df: pd.DataFrame):
    """Grouped bars: accuracy of each method per model (robust extraction), one panel per task."""
    tasks = sorted(df["task"].unique())
    robust = df[df["style"] == "robust"]
    fig, axes = panel_grid(len(tasks), max(6, 1.6 * robust["model"].nunique() + 2), 3.6, max_columns=2)
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
        ax.legend(fontsize=8, ncol=len(shown))
    fig.tight_layout()
    return fig


def compute_figure(df: pd.DataFrame, paths: pd.DataFrame | None = None):
    """Test-time compute: accuracy against mean generated tokens per question, one panel per task;
    each self-consistency run also as a curve through its points at 1, 2, 4, ... sampled paths."""
    tasks = sorted(df["task"].unique())
    robust = df[df["style"] == "robust"]
    curves = paths[paths["style"] == "robust"] if paths is not None and not paths.empty else None
    fig, axes = panel_grid(len(tasks), 5.2, 4, max_columns=3)
    for ax, task in zip(axes, tasks, strict=True):
        sub = robust[robust["task"] == task]
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
                    fontsize=6,
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
    axes[0].legend(fontsize=8, title="method (robust extraction)", title_fontsize=8)
    fig.tight_layout()
    return fig


def failures_figure(df: pd.DataFrame):
    """Failure fractions (% of questions, mean over tasks) per model and method, one panel per kind."""
    robust = df[df["style"] == "robust"]
    models = models_by_size(robust)
    shown = _methods(robust)
    means = robust.groupby(["model", "method"])[list(FAILURES)].mean()
    fig, axes = plt.subplots(
        1, len(FAILURES), figsize=(max(10, 2.2 * len(models) * len(FAILURES) / 2), 3.8), squeeze=False, sharey=True
    )
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
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def paths_figure(df: pd.DataFrame, paths: pd.DataFrame):
    """Accuracy against the number of sampled reasoning paths (Wang et al.'s Figure 2): one panel per
    task, a curve per model and self-consistency method with its interval, and the same prompt
    decoded greedily as a flat dashed line."""
    robust = paths[paths["style"] == "robust"]
    greedy = df[df["style"] == "robust"]
    tasks = sorted(robust["task"].unique())
    fig, axes = panel_grid(len(tasks), 5.2, 4, max_columns=3)
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
    axes[0].legend(fontsize=7, title="dashed: greedy decoding of the same prompt", title_fontsize=7)
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
