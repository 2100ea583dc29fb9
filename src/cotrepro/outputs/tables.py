"""Every table of the report and the paper, built once as a DataFrame.

Each function is pure: workflow outputs in (results/accuracy.csv, results/significance.csv,
config/published.csv, generation metadata, model manifests, task provenance), one frame out whose
column names and cells are what a reader sees. The HTML report and the LaTeX paper render these
frames; a renderer may leave out some columns, never show other values, so the two documents
cannot disagree on a number. Cells whose formatting both must share are strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pandas as pd

from cotrepro import methods
from cotrepro.outputs import strategies as strategy_names
from cotrepro.outputs.published import main_rows, strategy_rows
from cotrepro.outputs.sizes import human_count, models_by_size
from cotrepro.scoring.disagreements import CAUSES

STYLE_LABELS = {"robust": "robust", "kojima": "paper-faithful"}
"""Extraction style key -> how tables name it, in display order (the project's own style first)."""
SIGNIFICANT = "*"
"""Appended to a cell whose method differs from its baseline on the same questions (McNemar, p < 0.05)."""
THIS_RUN = "this run"
"""The source column's value on rows this workflow measured (the others name the paper)."""
EXEMPLAR_ORIGINS = {
    "downloaded": "the papers' set, downloaded",
    "project": "THE PROJECT'S OWN (not the papers' set)",
}


def pct(value) -> str:
    """A percentage to one decimal; empty when missing."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def with_ci(row) -> str:
    """``45.0 [30.2, 60.1]``: an accuracy row's value with its 95% interval; empty when missing."""
    return "" if row is None else f"{row['accuracy']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"


def p_text(p: float) -> str:
    """A p-value to three decimals; ``<0.001`` below that."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def settings_text(params: dict | None) -> str:
    """A task's settings for readers: ``people=4, seed=0, size=500`` (empty when it has none)."""
    return ", ".join(f"{k}={v}" for k, v in sorted((params or {}).items()))


def _method_order(keys: pd.Series) -> pd.Series:
    # Sorting by key would put few-shot before zero-shot; the registry's order is the display order.
    return keys.map(methods.ordered_with_variants(keys).index)


def _significant(sig: pd.DataFrame | None, style: str) -> set[tuple[str, str, str, str]]:
    """(model, task, method_a, method_b) of the pairs that differ significantly under ``style``."""
    if sig is None:
        return set()
    hit = sig[(sig["style"] == style) & sig["significant"].astype(bool)]
    return set(zip(hit["model"], hit["task"], hit["method_a"], hit["method_b"], strict=True))


def accuracy_matrix(acc: pd.DataFrame, sig: pd.DataFrame | None, style: str) -> pd.DataFrame:
    """Accuracy under one extraction style: a row per (task, model), tasks in name order and models
    by size, a column per method, ``acc [95% CI]`` cells; SIGNIFICANT marks a reasoning method that
    differs from its ``cot_baseline`` on the same questions under the same style."""
    sub = acc[acc["style"] == style]
    marked = _significant(sig, style)
    cells = [
        with_ci(r)
        + (SIGNIFICANT if (r["model"], r["task"], methods.get(r["method"]).cot_baseline, r["method"]) in marked else "")
        for _, r in sub.iterrows()
    ]
    wide = (
        sub.assign(cell=cells)
        .pivot_table(index=["task", "model", "parameters"], columns="method", values="cell", aggfunc="first")
        .reset_index()
        .sort_values(["task", "parameters", "model"])
    )
    shown = methods.ordered(wide.columns)
    wide = wide[["task", "model", "parameters", *shown]].rename(columns=methods.labels()).fillna("")
    wide.columns.name = None
    return wide.assign(parameters=wide["parameters"].map(human_count)).reset_index(drop=True)


def _delta(a: float | None, b: float | None) -> str:
    """B - A in points, signed; empty unless both are there."""
    return "" if a is None or b is None else f"{b - a:+.1f}"


def comparison_pairs(acc: pd.DataFrame, published: pd.DataFrame) -> list[tuple[str, str]]:
    """The papers' comparisons to show: (cot_baseline, method) for each reasoning method of the
    registry, where this run has either method and the papers report either; then (greedy,
    self-consistency) for each voting method this run has and the papers report."""
    ran, quoted = set(acc["method"]), set(main_rows(published)["method"])
    cot = [p for p in methods.cot_pairs() if set(p) & ran and set(p) & quoted]
    return cot + [p for p in methods.voting_pairs() if p[1] in ran and set(p) & quoted]


def comparison_title(pair: tuple[str, str]) -> str:
    """``Few-shot against few-shot CoT (Wei et al.'s comparison)``: a comparison's heading or caption."""
    a, b = pair
    whose = methods.get(b).paper
    title = f"{methods.label(a)} against {methods.label(b)}" + (f" ({whose}'s comparison)" if whose else "")
    return title[0].upper() + title[1:]


def comparison(
    acc: pd.DataFrame, sig: pd.DataFrame | None, published: pd.DataFrame, pair: tuple[str, str], style: str = "robust"
) -> pd.DataFrame:
    """One of the papers' comparisons (baseline A against method B) beside ours: per task, our rows
    (models by size) with A, B, their difference and the exact McNemar p on the same questions
    (SIGNIFICANT when p < 0.05), then the papers' rows for that task."""
    a, b = pair
    col_a, col_b = methods.label(a), methods.label(b)
    columns = ["task", "model", "parameters", "source", col_a, col_b, "delta", "McNemar p"]
    ours = acc[(acc["style"] == style) & acc["method"].isin(pair)]
    tests = (
        {}
        if sig is None
        else {
            (r["model"], r["task"]): r
            for _, r in sig[(sig["style"] == style) & (sig["method_a"] == a) & (sig["method_b"] == b)].iterrows()
        }
    )
    rows = []
    for task in sorted(ours["task"].unique()):
        block = ours[ours["task"] == task]
        for model in models_by_size(block):
            mine = block[block["model"] == model]
            got = {r["method"]: r for _, r in mine.iterrows()}
            ra, rb = got.get(a), got.get(b)
            test = tests.get((model, task))
            rows.append(
                {
                    "task": task,
                    "model": model,
                    "parameters": human_count(mine["parameters"].iloc[0]),
                    "source": THIS_RUN,
                    col_a: with_ci(ra),
                    col_b: with_ci(rb),
                    "delta": _delta(None if ra is None else ra["accuracy"], None if rb is None else rb["accuracy"]),
                    "McNemar p": ""
                    if test is None
                    else p_text(test["p_value"]) + (SIGNIFICANT if bool(test["significant"]) else ""),
                }
            )
        pub = main_rows(published)
        pub = pub[(pub["task"] == task) & pub["method"].isin(pair)]
        for (source, model, note), grp in pub.groupby(["source", "model", pub["note"].fillna("")], sort=False):
            vals = dict(zip(grp["method"], grp["accuracy"], strict=True))
            paths = grp["paths"].dropna() if "paths" in grp else ()
            source = ", ".join(
                [source, *([note] if note else []), *([f"{paths.iloc[0]:.0f} paths"] if len(paths) else [])]
            )
            rows.append(
                {
                    "task": task,
                    "model": model,
                    "parameters": human_count(grp["params_b"].iloc[0] * 1e9),
                    "source": source,
                    col_a: pct(vals.get(a)),
                    col_b: pct(vals.get(b)),
                    "delta": _delta(vals.get(a), vals.get(b)),
                    "McNemar p": "",
                }
            )
    return pd.DataFrame(rows, columns=columns)


def paired_tests(sig: pd.DataFrame, style: str = "robust") -> pd.DataFrame:
    """Every exact McNemar test of a method pair on the same questions under ``style``."""
    sub = sig[sig["style"] == style]
    pairs = zip(sub["method_a"], sub["method_b"], strict=True)
    return pd.DataFrame(
        {
            "model": sub["model"],
            "task": sub["task"],
            "comparison": [f"{methods.label(a)} vs {methods.label(b)}" for a, b in pairs],
            "n": sub["n"],
            "right only with A": sub["only_a"],
            "right only with B": sub["only_b"],
            "p (exact McNemar)": sub["p_value"].map(p_text),
            "significant (p < 0.05)": sub["significant"].astype(bool).map({True: "yes", False: "no"}),
        }
    ).reset_index(drop=True)


def failures(acc: pd.DataFrame, style: str = "robust") -> pd.DataFrame:
    """Per task, model (by size) and method: where answers were lost, in % of questions (no answer
    extracted, generation hit the token limit, prompt over the model's context), and the mean number
    of generated tokens. No answer depends on ``style``; the other columns do not."""
    sub = acc[acc["style"] == style]
    sub = sub.assign(order=_method_order(sub["method"])).sort_values(["task", "parameters", "model", "order"])
    return pd.DataFrame(
        {
            "task": sub["task"],
            "model": sub["model"],
            "method": sub["method"].map(methods.label),
            "no answer": (100 * sub["frac_no_answer"]).map(pct),
            "hit limit": (100 * sub["frac_hit_max_new_tokens"]).map(pct),
            "over context": (100 * sub["frac_over_context"]).map(pct),
            "tokens": sub["mean_generated_tokens"].map(lambda t: f"{t:.0f}"),
        }
    ).reset_index(drop=True)


def extraction_styles(acc: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over models (%) per task and method under each extraction style."""
    means = acc.pivot_table(index=["task", "method"], columns="style", values="accuracy", aggfunc="mean")
    means = means.reset_index()
    means = means.assign(order=_method_order(means["method"])).sort_values(["task", "order"])
    per_style = {label: means[style].map(pct) for style, label in STYLE_LABELS.items() if style in means}
    return pd.DataFrame({"task": means["task"], "method": means["method"].map(methods.label), **per_style}).reset_index(
        drop=True
    )


def disagreement_counts(acc: pd.DataFrame, dis: pd.DataFrame, compact: bool = False) -> pd.DataFrame:
    """Per task, model (by size) and method: the accuracy under each extraction style beside how many
    questions the two styles' predictions differ on, in all and by cause: a column per cause of
    :data:`cotrepro.scoring.disagreements.CAUSES` (zeros shown, so a row with none says so), or with
    ``compact`` one column naming the causes that occur (``no answer 5, other 2``) for a narrow page."""
    got = dis.groupby(["model", "task", "method", "cause"]).size().to_dict()
    wide = acc.pivot_table(
        index=["task", "model", "parameters", "method", "n"], columns="style", values="accuracy", aggfunc="first"
    ).reset_index()
    wide = wide.assign(order=_method_order(wide["method"])).sort_values(["task", "parameters", "model", "order"])
    by_cause = {
        label: [got.get((r.model, r.task, r.method, cause), 0) for r in wide.itertuples()]
        for cause, label in CAUSES.items()
    }
    if compact:
        rows = zip(*by_cause.values(), strict=True)
        by_cause = {"by cause": [", ".join(f"{c} {k}" for c, k in zip(by_cause, r, strict=True) if k) for r in rows]}
    return pd.DataFrame(
        {
            "task": wide["task"],
            "model": wide["model"],
            "method": wide["method"].map(methods.label),
            "n": wide["n"],
            **{label: wide[style].map(pct) for style, label in STYLE_LABELS.items() if style in wide},
            "differ": [sum(got.get((r.model, r.task, r.method, c), 0) for c in CAUSES) for r in wide.itertuples()],
            **by_cause,
        }
    ).reset_index(drop=True)


def disagreement_examples(dis: pd.DataFrame, per_cause: int = 2) -> pd.DataFrame:
    """A few disagreeing items per cause (the first ``per_cause`` in file order, one per (model, task,
    method) where there are enough), with both predictions, their verdicts and an excerpt."""
    picked = []
    for cause in CAUSES:
        rows = dis[dis["cause"] == cause]
        # One per unit first, so the examples show several models and tasks rather than one file's.
        spread = rows.drop_duplicates(["model", "task", "method"])
        picked.append(pd.concat([spread, rows.drop(spread.index)]).head(per_cause))
    rows = pd.concat(picked) if picked else dis.head(0)

    def verdict(pred, right) -> str:
        # A random model's "answer" can be a whole line run together; the CSV keeps it whole.
        shown = pred if len(pred) <= 12 else pred[:11] + "…"
        return f"{shown or '(none)'} ({'right' if bool(right) else 'wrong'})"

    return pd.DataFrame(
        {
            "cause": rows["cause"].map(CAUSES),
            "model": rows["model"],
            "task": rows["task"],
            "method": rows["method"].map(methods.label),
            "id": rows["id"].astype(str),
            "gold": rows["gold"].astype(str),
            STYLE_LABELS["kojima"]: [
                verdict(p, c) for p, c in zip(rows["pred_kojima"], rows["correct_kojima"], strict=True)
            ],
            STYLE_LABELS["robust"]: [
                verdict(p, c) for p, c in zip(rows["pred_robust"], rows["correct_robust"], strict=True)
            ],
            "excerpt": rows["excerpt"],
        }
    ).reset_index(drop=True)


def _files_summary(manifest: dict) -> str:
    files = manifest.get("files", [])
    size = sum(f["size"] for f in files)
    return (
        f"{len(files)} files, {size / 2**20:,.1f} MiB "
        f"(sha256 of each in resources/models/{manifest.get('model', '')}.json)"
    )


IMPLEMENTATIONS = {"transformers.generate": "transformers", "cotrepro.scratch_llama": "from scratch"}
"""How the models table names each backend's engine (``backend.engine`` in a generation's metadata)."""


def _batch_size(backend: dict) -> str:
    """How a backend batched: ``auto: 16 (final 8)``; n/a where no engine ran (published completions)."""
    if "batch_size" not in backend:
        return "n/a"
    auto = "auto: " if backend.get("batch_size_setting") == "auto" else ""
    return f"{auto}{backend['batch_size']} (final {backend['final_batch_size']})"


VERIFIER_COLUMNS = ["verifier", "kind", "weights", "parameters", "reads", "licence", "units"]


def verifiers(verifications: Sequence[dict]) -> pd.DataFrame:
    """One row per verifier, from the verification metadata of the units it scored: its kind, whose
    weights at which revision (a Hub verifier's resolved commit; kind self, each generating model's
    own), its parameters, how it reads a path (a PRM's format and aggregate), its licence as
    recorded, and the units it scored."""
    by_slug: dict[str, list[dict]] = {}
    for meta in verifications:
        by_slug.setdefault(meta["verifier"], []).append(meta)
    rows = []
    for slug, metas in sorted(by_slug.items()):
        first = metas[0]
        if first["kind"] == "self":
            weights = "each unit's generating model (" + ", ".join(sorted({m["scored_by"] for m in metas})) + ")"
            licence = "the generating model's"
        else:
            where = first.get("repo") or f"{first['source']} (random weights)"
            weights = f"{where} @ {first['revision']}"
            licence = first.get("licence") or "not given"
        reads = {"orm": "the whole path", "self": "P(True) of the path's answer"}.get(first["kind"])
        rows.append(
            {
                "verifier": slug,
                "kind": first["kind"],
                "weights": weights,
                "parameters": ", ".join(sorted({human_count(m["parameters"]) for m in metas})),
                "reads": reads or f"{first['format']} steps, {first['aggregate']} of them",
                "licence": licence,
                "units": len(metas),
            }
        )
    return pd.DataFrame(rows, columns=VERIFIER_COLUMNS)


def models(metas: Sequence[dict], manifests: Sequence[dict] = ()) -> pd.DataFrame:
    """One row per model, smallest first: where its weights came from (repository, requested and
    resolved revision, files) and how it ran (dtype, device, batch size, context, prompt format)."""
    files_of = {m.get("model"): _files_summary(m) for m in manifests}
    rows = {}
    for m in metas:
        b, mm = m["backend"], m["model"]
        rows.setdefault(
            mm["slug"],
            {
                "model": mm["slug"],
                "repository": mm["repo"] or f"({mm['source']})",
                "requested revision": mm["requested_revision"] or "",
                "resolved revision": mm["resolved_revision"],
                "parameters": b["parameters"],
                "implementation": IMPLEMENTATIONS.get(b.get("engine"), b.get("engine", "")),
                "dtype": b["dtype"],
                "device": b["device_name"],
                "batch size": _batch_size(b),
                "context": b["context_length"],
                "prompt format": m["prompt_format"],
                "files": files_of.get(mm["slug"], ""),
            },
        )
    columns = [
        "model",
        "repository",
        "requested revision",
        "resolved revision",
        "parameters",
        "implementation",
        "dtype",
        "device",
        "batch size",
        "context",
        "prompt format",
        "files",
    ]
    frame = pd.DataFrame(list(rows.values()), columns=columns).sort_values(["parameters", "model"])
    return frame.assign(parameters=frame["parameters"].map(lambda n: f"{n:,}")).reset_index(drop=True)


def tasks(provenance: Sequence[dict], acc: pd.DataFrame) -> pd.DataFrame:
    """One row per task and downloaded file: the task's kind and answer format, how many questions
    were evaluated out of its test set, the file's pinned source and sha256, the generator settings."""
    evaluated = acc.groupby("task")["n"].max().to_dict()
    rows = [
        {
            "task": t["task"],
            "kind": t["kind"],
            "answer format": t["answer_format"],
            "evaluated": int(evaluated.get(t["task"], 0)),
            "records": t["records"],
            "file": f["name"],
            "source": f["source"],
            "sha256": f["sha256"],
            "settings": settings_text(t.get("params")),
        }
        for t in sorted(provenance, key=lambda t: t["task"])
        for f in t["files"]
    ]
    return pd.DataFrame(
        rows, columns=["task", "kind", "answer format", "evaluated", "records", "file", "source", "sha256", "settings"]
    )


def exemplars(metas: Sequence[dict]) -> pd.DataFrame:
    """The few-shot exemplar set of each task, with its origin: the papers' or the project's own."""
    sets = {(m["task"]["key"], m["exemplars"]["name"]): m["exemplars"] for m in metas if m.get("exemplars")}
    return pd.DataFrame(
        [
            {
                "task": task,
                "set": e["name"],
                "origin": EXEMPLAR_ORIGINS.get(e["origin"], e["origin"]),
                "source": e["source"],
                "sha256": e["sha256"],
                "shots": e["shots"],
            }
            for (task, _), e in sorted(sets.items())
        ],
        columns=["task", "set", "origin", "source", "sha256", "shots"],
    )


def _value_text(value) -> str:
    if isinstance(value, list):
        # JSON shows each stop sequence's quotes and escaped newlines, where str() would print them raw.
        return json.dumps(value)
    return str(value)


def generation_seconds(metas: Sequence[dict]) -> float:
    """The generation time behind the rows of these units: each unit's ``row_seconds`` (which counts
    rows a rerun reused with the time they took when made), or its ``wall_seconds`` where the
    metadata predates ``row_seconds``."""
    return sum(m["stats"].get("row_seconds", m["stats"]["wall_seconds"]) for m in metas)


def _decoding_settings(meta: dict) -> dict[str, str]:
    """One unit's decoding as the table shows it: greedy, or sampled with its settings and paths."""
    decoding, sampling = meta["backend"]["decoding"], meta.get("sampling")
    if sampling:
        # Self-consistency samples its reasoning paths; the backend's greedy settings are the answer step's.
        shown = {k: v for k, v in sampling.items() if v is not None and k != "paths"}
        how = f"sampled, {sampling['paths']} paths: " + ", ".join(f"{k} {v}" for k, v in shown.items())
    else:
        how = decoding.get("strategy", "greedy")
        if decoding.get("num_beams", 1) != 1:
            how += f", {decoding['num_beams']} beams"
    budgets = meta["max_new_tokens"]
    budget = ", ".join(f"{k} {v}" for k, v in budgets.items()) if isinstance(budgets, dict) else str(budgets)
    return {
        "decoding": how,
        "max new tokens": budget,
        "stop": _value_text(decoding.get("stop", [])),
        "on overflow": str(meta["on_overflow"]),
    }


def decoding(metas: Sequence[dict]) -> pd.DataFrame:
    """The decoding settings of each method, as its generation jobs recorded them: greedy and sampled
    methods each on their row. A setting that differs between a method's units (stop sequences per
    task) lists each value once; a variant whose settings are its method's shares its row."""
    columns = ["method", "decoding", "max new tokens", "stop", "on overflow"]
    by_method: dict[str, dict[str, list[str]]] = {}
    for meta in metas:
        cells = by_method.setdefault(meta["method"], {c: [] for c in columns[1:]})
        for key, value in _decoding_settings(meta).items():
            if value not in cells[key]:
                cells[key].append(value)
    rows = {m: {c: " / ".join(v) for c, v in cells.items()} for m, cells in by_method.items()}
    shown = [
        m
        for m in methods.ordered_with_variants(rows)
        if methods.get(m).variant is None or rows.get(methods.get(m).base) != rows[m]
    ]
    return pd.DataFrame([{"method": methods.label(m), **rows[m]} for m in shown], columns=columns)


def software(metas: Sequence[dict]) -> pd.DataFrame:
    """Package versions the generation ran with (as recorded by its first job)."""
    versions = metas[0]["versions"] if metas else {}
    return pd.DataFrame(
        [{"package": k, "version": str(v)} for k, v in versions.items()], columns=["package", "version"]
    )


def test_time_compute(acc: pd.DataFrame, paths: pd.DataFrame | None, style: str = "robust") -> pd.DataFrame:
    """The inference-time scaling curve as a table: every greedy method of every model at its mean
    generated tokens per question (both stages), and each self-consistency run at 1, 2, 4, ...
    sampled paths (all paths' tokens counted), with accuracy and its 95% interval; by task and model."""
    # The ablation variants have tables of their own.
    greedy = acc[
        (acc["style"] == style) & ~acc["method"].map(lambda m: bool(methods.get(m).samples or methods.get(m).variant))
    ]
    parts = [greedy.assign(paths="greedy")]
    if paths is not None and not paths.empty:
        parts.append(paths[paths["style"] == style].assign(paths=lambda d: d["paths"].astype(str)))
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.assign(order=_method_order(rows["method"])).sort_values(
        ["task", "model", "order", "mean_generated_tokens"], kind="stable"
    )
    return pd.DataFrame(
        {
            "task": rows["task"],
            "model": rows["model"],
            "method": rows["method"].map(methods.label),
            "paths": rows["paths"],
            "tokens": rows["mean_generated_tokens"].map(lambda t: f"{t:.0f}"),
            "accuracy": rows.apply(with_ci, axis=1),
        }
    ).reset_index(drop=True)


def _flops(value) -> str:
    """FLOPs per question in scientific notation (``3.4e+09``); empty when not counted."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2g}"


def _greedy_row(acc: pd.DataFrame, model: str, task: str, method: str, style: str):
    """accuracy.csv's row of ``method``'s greedy counterpart for the same model and task (None if not run)."""
    greedy = methods.get(method).greedy_counterpart
    rows = acc[(acc["style"] == style) & (acc["model"] == model) & (acc["task"] == task) & (acc["method"] == greedy)]
    return None if rows.empty else rows.iloc[0]


def _at_all_paths(selection: pd.DataFrame | None, style: str) -> pd.DataFrame:
    """selection.csv's rows at k' = k, every unit's largest number of paths, under ``style``."""
    if selection is None or selection.empty:
        return pd.DataFrame(columns=["model", "task", "method", "strategy", "verifier", "paths"])
    sub = selection[selection["style"] == style]
    top = sub.groupby(["model", "task", "method"])["paths"].transform("max")
    return sub[sub["paths"] == top]


def strategies(acc: pd.DataFrame, selection: pd.DataFrame | None, style: str = "robust") -> pd.DataFrame:
    """The choosers' table: per self-consistency unit (tasks in name order, models by size), the same
    prompt decoded greedily (accuracy.csv), then each strategy of results/selection.csv on all k of
    the unit's paths with its 95% interval, coverage (pass@k) last; with FLOPs per question."""
    columns = ["task", "model", "method", "paths", "strategy", "accuracy", "FLOPs per question"]
    top = _at_all_paths(selection, style)
    if top.empty:
        return pd.DataFrame(columns=columns)
    sizes = {m: i for i, m in enumerate(models_by_size(acc))}
    units = top.drop_duplicates(["model", "task", "method"])
    shown = methods.ordered(units["method"])
    rows = []
    for unit in sorted(
        units.itertuples(), key=lambda u: (u.task, sizes.get(u.model, -1), u.model, shown.index(u.method))
    ):
        head = {"task": unit.task, "model": unit.model, "method": methods.label(unit.method)}
        greedy = _greedy_row(acc, unit.model, unit.task, unit.method, style)
        if greedy is not None:
            flops = greedy.get("flops_per_question")
            rows.append(
                {
                    **head,
                    "paths": "1",
                    "strategy": "greedy",
                    "accuracy": with_ci(greedy),
                    "FLOPs per question": _flops(flops),
                }
            )
        mine = top[(top["model"] == unit.model) & (top["task"] == unit.task) & (top["method"] == unit.method)]
        mine = mine.assign(order=mine["strategy"].map(strategy_names.order)).sort_values(
            ["order", "verifier"], kind="stable"
        )
        for r in mine.to_dict("records"):
            rows.append(
                {
                    **head,
                    "paths": f"{r['paths']:.0f}",
                    "strategy": strategy_names.label(r["strategy"], r["verifier"]),
                    "accuracy": with_ci(r),
                    "FLOPs per question": _flops(r.get("flops_per_question")),
                }
            )
    return pd.DataFrame(rows, columns=columns)


WANG_STRATEGIES = (
    "greedy",
    "weighted_avg_unnormalized",
    "weighted_avg_normalized",
    "weighted_sum_unnormalized",
    "weighted_sum_normalized",
    "majority",
)
"""Wang et al.'s Table 1 columns, in their order (the majority vote is their unweighted sum)."""


def strategy_comparison(
    acc: pd.DataFrame, selection: pd.DataFrame | None, published: pd.DataFrame, style: str = "robust"
) -> pd.DataFrame:
    """Wang et al.'s Table 1 beside ours: per task, our self-consistency units (accuracy on all k
    paths, no intervals: the choosers' table has them), then the paper's rows for that task, a
    column per aggregation strategy in their order; the source names the number of paths, the method
    is "... + SC" (six columns of numbers leave little room)."""
    labels = {s: strategy_names.SHORT_LABELS[s] for s in WANG_STRATEGIES}
    columns = ["task", "model", "method", "source", *labels.values()]
    top = _at_all_paths(selection, style)
    pub = strategy_rows(published)
    sizes = {m: i for i, m in enumerate(models_by_size(acc))}
    rows = []
    for task in sorted(set(top["task"]) | set(pub["task"])):
        units = top[top["task"] == task].drop_duplicates(["model", "method"])
        for unit in sorted(units.itertuples(), key=lambda u: (sizes.get(u.model, -1), u.model, u.method)):
            mine = top[(top["model"] == unit.model) & (top["task"] == task) & (top["method"] == unit.method)]
            plain = mine[mine["verifier"] == ""]  # Wang et al.'s strategies need no verifier
            got = dict(zip(plain["strategy"], plain["accuracy"], strict=True))
            greedy = _greedy_row(acc, unit.model, task, unit.method, style)
            got["greedy"] = None if greedy is None else greedy["accuracy"]
            cells = {labels[s]: pct(got.get(s)) for s in WANG_STRATEGIES}
            source = f"{THIS_RUN}, {unit.paths:.0f} paths"
            method = strategy_names.short_method(methods.label(unit.method))
            rows.append({"task": task, "model": unit.model, "method": method, "source": source, **cells})
        for (source, model), grp in pub[pub["task"] == task].groupby(["source", "model"], sort=False):
            got = dict(zip(grp["strategy"], grp["accuracy"], strict=True))
            # The greedy row has no paths: the sampled rows name the method and the number of paths.
            sampled = grp[grp["strategy"] != "greedy"]
            method = strategy_names.short_method(methods.label(sampled["method"].iloc[0])) if len(sampled) else ""
            source += f", {sampled['paths'].max():.0f} paths" if len(sampled) else ""
            cells = {labels[s]: pct(got.get(s)) for s in WANG_STRATEGIES}
            rows.append({"task": task, "model": model, "method": method, "source": source, **cells})
    return pd.DataFrame(rows, columns=columns)


BACKEND_LABELS = {
    "hf": "transformers",
    "scratch": "from-scratch Llama",
    "served": "served (OpenAI API)",
}
"""How the agreement table names the backends it compares."""


def compared_backends(summary: dict) -> list[str]:
    """The two backends an agreement summary compares (summaries from before the choice: hf and scratch)."""
    return summary.get("compared", ["hf", "scratch"])


def agreement(summaries: Sequence[dict]) -> pd.DataFrame:
    """One row per model and method of the backend agreement check: the questions run through both
    backends and how many came out identical (every stage's text, token counts and stop reason)."""
    rows = [
        {
            "model": s["model"],
            "backends": " vs ".join(BACKEND_LABELS[b] for b in compared_backends(s)),
            "task": s["task"],
            "method": methods.label(method),
            "questions": m["rows"],
            "identical": m["identical"],
            "differing ids": ", ".join(str(i) for i in m["differing"]) or "none",
        }
        for s in summaries
        for method, m in s["methods"].items()
    ]
    return pd.DataFrame(
        rows, columns=["model", "backends", "task", "method", "questions", "identical", "differing ids"]
    )


def _of(count: int, n: int) -> str:
    """``2 of 10 (20%)``."""
    return f"{count} of {n} ({100 * count / n:.0f}%)" if n else "0 of 0"


def batch_invariance(frame: pd.DataFrame) -> pd.DataFrame:
    """results/batch_invariance.csv for reading: per model, the questions generated again at batch
    size 1, the batched run's batch size (``16 (then 8)`` where out-of-memory errors halved it), and how
    many completions differ and answers flip per extraction style; the earliest differing token
    (counted in the completion), or "-" when none differs."""
    rows = [
        {
            "model": r["model"],
            "task": r["task"],
            "method": methods.label(r["method"]),
            "questions": r["n"],
            "batch size": str(r["batch_size"])
            + ("" if r["final_batch_size"] == r["batch_size"] else f" (then {r['final_batch_size']})"),
            "differing completions": _of(r["differing_completions"], r["n"]),
            **{f"flipped ({label})": _of(r[f"flipped_{s}"], r["n"]) for s, label in STYLE_LABELS.items()},
            "first differing token": "-" if pd.isna(first := r["earliest_differing_token"]) else int(first),
        }
        for _, r in frame.iterrows()
    ]
    return pd.DataFrame(rows)
