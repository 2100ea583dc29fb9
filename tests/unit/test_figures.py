"""Every figure, drawn for a run of full size and for the calibration run, read back from its
matplotlib objects: the text width, no text under 7 pt, tick labels on every panel, no empty panel
and no point at an x the data does not have.

The full-size run is the generated fixture of support/full_size_fixture.py; the calibration run is
Kojima et al.'s released completions re-scored in-process, when a local copy of their repository
is given (COTREPRO_KOJIMA_REPO, as in tests/workflow/test_published.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from figure_checks import figure_problems
from full_size_fixture import full_size_results, full_size_selection

from cotrepro.outputs import FIGURE_NAMES, plots

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = pd.read_csv(REPO / "config/published.csv")


def _draw(name: str, accuracy: pd.DataFrame, paths: pd.DataFrame | None):
    return {
        "scaling": lambda: plots.scaling_figure(accuracy, PUBLISHED),
        "methods": lambda: plots.methods_figure(accuracy),
        "compute": lambda: plots.compute_figure(accuracy, paths),
        "failures": lambda: plots.failures_figure(accuracy),
        "paths": lambda: plots.paths_figure(accuracy, paths),
        "strategies": lambda: plots.strategies_figure(*_with_selection(accuracy, paths)),
        "flops": lambda: plots.flops_figure(*_with_selection(accuracy, paths)),
    }[name]()


def _with_selection(accuracy: pd.DataFrame, paths: pd.DataFrame | None):
    """(accuracy, selection) for the choosers' figures: the full-size frames, or a run with no
    sampled paths (an empty selection.csv) as it is."""
    if paths is None:
        return accuracy, pd.DataFrame(columns=["model", "task", "method", "style", "strategy", "verifier"])
    return full_size_selection(accuracy, paths)


def _allowed_x(name: str, accuracy: pd.DataFrame, paths: pd.DataFrame | None) -> dict[str, set[float]]:
    """Per panel title, the x values that panel's data has (for the figures on a data x axis)."""
    allowed: dict[str, set[float]] = {}
    published = PUBLISHED.assign(parameters=PUBLISHED["params_b"] * 1e9)
    for task, sub in accuracy.groupby("task"):
        if name == "scaling":
            allowed[task] = set(sub["parameters"]) | set(published[published["task"] == task]["parameters"])
        elif name == "compute":
            tokens = set(sub["mean_generated_tokens"])
            if paths is not None:
                tokens |= set(paths[paths["task"] == task]["mean_generated_tokens"])
            allowed[f"{task}: accuracy vs test-time compute"] = tokens
        elif name == "paths" and paths is not None:
            allowed[f"{task}: self-consistency"] = set(paths[paths["task"] == task]["paths"])
        elif name == "flops" and paths is not None:
            acc, selection = _with_selection(accuracy, paths)
            allowed[task] = set(acc[acc["task"] == task]["flops_per_question"]) | set(
                selection[selection["task"] == task]["flops_per_question"]
            )
    return allowed


FULL_ACCURACY, FULL_PATHS = full_size_results()


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_full_size_figures_are_legible_at_print_size(name):
    fig = _draw(name, FULL_ACCURACY, FULL_PATHS)
    try:
        assert figure_problems(fig, name, _allowed_x(name, FULL_ACCURACY, FULL_PATHS)) == []
    finally:
        plt.close(fig)


def test_the_full_size_figures_show_every_task():
    """13 tasks: each has its panel (or its row of the heat map) in each per-task figure."""
    tasks = set(FULL_ACCURACY["task"])
    for name in ("scaling", "compute"):
        fig = _draw(name, FULL_ACCURACY, FULL_PATHS)
        titles = {ax.get_title().split(":")[0] for ax in fig.axes if ax.get_visible() and ax.get_title()}
        plt.close(fig)
        assert tasks <= titles, name
    fig = plots.methods_figure(FULL_ACCURACY)
    fig.canvas.draw()
    labels = {t.get_text() for ax in fig.axes for t in ax.get_yticklabels()}
    plt.close(fig)
    assert tasks <= labels


def test_compute_figure_leaves_out_rows_without_token_counts():
    """A published model's rows have no token counts: none of its points is drawn, at 1 or anywhere."""
    acc = FULL_ACCURACY.copy()
    acc.loc[acc["model"] == "phi-2", "mean_generated_tokens"] = 0.0
    fig = plots.compute_figure(acc, None)
    drawn = sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections)
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    plt.close(fig)
    robust = acc[acc["style"] == "robust"]
    assert drawn == (robust["model"] != "phi-2").sum()
    assert "phi-2" not in legend and "zephyr-7b-beta" in legend


# --- the calibration run: Kojima et al.'s completions re-scored ------------------------------

KOJIMA_COPY = os.environ.get("COTREPRO_KOJIMA_REPO")
needs_copy = pytest.mark.skipif(
    not (KOJIMA_COPY and (Path(KOJIMA_COPY) / "log").is_dir()),
    reason="set COTREPRO_KOJIMA_REPO to a local copy of kojima-takeshi188/zero_shot_cot at the pinned commit",
)


@pytest.fixture(scope="module")
def calibration_accuracy() -> pd.DataFrame:
    """results/accuracy.csv of `make calibrate`, computed from their logs and datasets as its rules do."""
    import yaml

    from cotrepro.data.tasks import get_task, task_params
    from cotrepro.models import published
    from cotrepro.scoring.aggregate import accuracy_table
    from cotrepro.scoring.score import score_rows

    config = yaml.safe_load((REPO / "config/calibrate.yaml").read_text())
    spec_of = config["model_specs"]["text-davinci-002"]
    meta = {"backend": {"parameters": spec_of["parameters"]}, "model": {"resolved_revision": spec_of["revision"]}}
    root, parts = Path(KOJIMA_COPY), []
    for task in config["tasks"]:
        spec = get_task(task)
        params = task_params(spec, config["task_params"].get(task, {}))
        pinned = spec.dataset_for(params).remote[0]
        # Their copy of GSM8K's test split is the file the project pins elsewhere (the same bytes).
        path = root / {"gsm8k": "dataset/grade-school-math/test.jsonl"}.get(task, pinned.path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned.sha256
        records = spec.load({pinned.filename: path}, params)
        for method in config["methods"]:
            log = root / published.log_file(task, method).path
            rows = published.published_rows(published.parse_log(log.read_text(encoding="utf-8")), records, method, "k")
            key = {"model": "text-davinci-002", "task": task, "method": method}
            parts.append((key, score_rows(rows, records, method), meta))
    return accuracy_table(parts)


@needs_copy
@pytest.mark.parametrize("name", [n for n in FIGURE_NAMES if n not in ("paths", "strategies")])
def test_calibration_figures_are_legible_at_print_size(name, calibration_accuracy):
    """One model, no token counts and no sampled paths: still every panel labelled, none empty, and
    the compute figure says why it has no points instead of drawing them at a stand-in count."""
    fig = _draw(name, calibration_accuracy, None)
    try:
        assert figure_problems(fig, name, _allowed_x(name, calibration_accuracy, None)) == []
        if name == "compute":
            assert any("token counts" in t.get_text() for t in fig.texts)
    finally:
        plt.close(fig)


def test_scaling_figure_puts_the_papers_benchmarks_first():
    fig = plots.scaling_figure(FULL_ACCURACY, PUBLISHED)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    plt.close(fig)
    reported = set(PUBLISHED["task"])
    flags = [t in reported for t in titles]
    assert flags == sorted(flags, reverse=True) and flags[0]
