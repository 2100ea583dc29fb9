"""Figures from results/accuracy.csv alone: the scaling curves and the method comparison.

One colour per method everywhere (Okabe-Ito, colour-blind safe). Accuracies are the robust
extraction style with 95% Wilson intervals; the paper-faithful style is drawn dashed beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from cotrepro import METHODS  # noqa: E402

METHOD_COLORS = {"zero_shot": "#E69F00", "zero_shot_cot": "#56B4E9", "few_shot": "#009E73",
                 "few_shot_cot": "#D55E00"}
METHOD_LABELS = {"zero_shot": "zero-shot", "zero_shot_cot": "zero-shot CoT", "few_shot": "few-shot",
                 "few_shot_cot": "few-shot CoT"}
STYLE_LINES = {"robust": "-", "kojima": "--"}


def human_count(n: float) -> str:
    """1.1B, 230K, 7.2B: parameter counts as people say them."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def _methods(df: pd.DataFrame) -> list[str]:
    return [m for m in METHODS if m in set(df["method"])]


def _save(fig, outputs: dict[str, Path], name: str) -> None:
    for ext in ("png", "pdf"):
        path = outputs.get(f"{name}.{ext}")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # No creation date in the PDF, so an unchanged figure is byte-identical.
            fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None)
    plt.close(fig)


def panel_grid(n: int, width: float, height: float, max_columns: int):
    """A figure with ``n`` panels in rows of at most ``max_columns``; unused panels are hidden."""
    columns = min(n, max_columns)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def scaling_figure(df: pd.DataFrame):
    """Accuracy against parameter count (log axis), one line per method, one panel per task."""
    tasks = sorted(df["task"].unique())
    fig, axes = panel_grid(len(tasks), 5.2, 4, max_columns=3)
    for ax, task in zip(axes, tasks):
        sub = df[df["task"] == task]
        methods = _methods(sub)
        for j, method in enumerate(methods):
            # Methods are dodged a little along the log axis so equal accuracies stay visible.
            dodge = 1 + 0.015 * (j - (len(methods) - 1) / 2)
            for style, line in STYLE_LINES.items():
                pts = sub[(sub["method"] == method) & (sub["style"] == style)].sort_values("parameters")
                if pts.empty:
                    continue
                robust = style == "robust"
                ax.errorbar(pts["parameters"] * dodge, pts["accuracy"],
                            yerr=[pts["accuracy"] - pts["ci_low"], pts["ci_high"] - pts["accuracy"]] if robust else None,
                            color=METHOD_COLORS[method], linestyle=line, marker="o" if robust else None,
                            alpha=1.0 if robust else 0.6, capsize=3,
                            label=METHOD_LABELS[method] if robust else None)
        ax.set_xscale("log")
        sizes = sorted(sub["parameters"].unique())
        ax.set_xticks(sizes, [human_count(p) for p in sizes])  # one tick per model size
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(min(sizes) / 1.3, max(sizes) * 1.3)
        ax.set_xlabel("model parameters (log scale)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(task)
        ax.grid(alpha=0.3)
    axes[0].legend(title="method (solid: robust, dashed: paper-faithful extraction)", fontsize=8,
                   title_fontsize=8)
    fig.tight_layout()
    return fig


def methods_figure(df: pd.DataFrame):
    """Grouped bars: accuracy of each method per model (robust extraction), one panel per task."""
    tasks = sorted(df["task"].unique())
    robust = df[df["style"] == "robust"]
    fig, axes = panel_grid(len(tasks), max(6, 1.6 * robust["model"].nunique() + 2), 3.6, max_columns=2)
    for ax, task in zip(axes, tasks):
        sub = robust[robust["task"] == task]
        models = sub.sort_values("parameters")["model"].unique().tolist()
        methods = _methods(sub)
        width = 0.8 / max(1, len(methods))
        for j, method in enumerate(methods):
            rows = sub[sub["method"] == method].set_index("model").reindex(models)
            xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(models))]
            ax.bar(xs, rows["accuracy"], width, color=METHOD_COLORS[method], label=METHOD_LABELS[method],
                   yerr=[rows["accuracy"] - rows["ci_low"], rows["ci_high"] - rows["accuracy"]], capsize=2)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{task}: methods per model (robust extraction, 95% CI)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=len(methods))
    fig.tight_layout()
    return fig


def draw_figures(df: pd.DataFrame, outputs: Sequence[Path]) -> None:
    """Write every requested figure; ``outputs`` are paths named ``{figure}.{png|pdf}``."""
    by_name = {Path(p).name: Path(p) for p in outputs}
    _save(scaling_figure(df), by_name, "scaling")
    _save(methods_figure(df), by_name, "methods")
