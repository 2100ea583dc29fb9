"""The prompt ablations as tables: Kojima et al.'s trigger study beside their Table 4, the spread of
accuracy over exemplar orders, and the plain against the chat prompt format with the paired test.

Each reads results/accuracy.csv (a variant is a method key ``{method}@{slug}``), the generation
metadata (what each variant changed) and, for the paired tests, results/significance.csv;
:func:`ablation_tables` gives all three, as the report and the paper show them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd

from cotrepro import methods
from cotrepro.outputs.published import trigger_rows
from cotrepro.outputs.sizes import models_by_size
from cotrepro.outputs.tables import SIGNIFICANT, p_text, pct, with_ci
from cotrepro.prompts import COT_TRIGGER
from cotrepro.variants import CHAT_FORMAT, PAPER_ORDER, TRIGGER_METHOD

NOT_APPLICABLE = "n/a"


def variants_by_kind(metas: Sequence[dict], kind: str) -> dict[str, dict]:
    """Method key -> variant settings, for the variants of ``kind`` among the generation metadata."""
    return {m["method"]: m["variant"] for m in metas if (m.get("variant") or {}).get("kind") == kind}


def not_applicable(metas: Sequence[dict]) -> dict[tuple[str, str, str], str]:
    """(model, task, method) -> why, for the units that did not apply to their model."""
    return {
        (m["model"]["slug"], m["task"]["key"], m["method"]): m["not_applicable"] for m in metas if "not_applicable" in m
    }


def _cell(acc: pd.DataFrame, model: str, task: str, method: str):
    hit = acc[(acc["model"] == model) & (acc["task"] == task) & (acc["method"] == method)]
    return None if hit.empty else hit.iloc[0]


def trigger_study(acc: pd.DataFrame, metas: Sequence[dict], published: pd.DataFrame, style: str) -> pd.DataFrame:
    """Kojima et al.'s Table 4 beside ours: per task, one row per reasoning trigger the run used
    (zero-shot CoT's own first, then the variants in config order), our accuracy per model under
    ``style``, and the paper's accuracy (text-davinci-002, MultiArith) for the same trigger text;
    then the paper's triggers this run did not use. Empty when the run has no trigger variant."""
    variants = variants_by_kind(metas, "trigger")
    if not variants:
        return pd.DataFrame()
    sub = acc[acc["style"] == style]
    theirs = trigger_rows(published)
    texts = {TRIGGER_METHOD: COT_TRIGGER, **{k: v["text"] for k, v in variants.items()}}
    slugs = {TRIGGER_METHOD: "(zero-shot CoT)", **{k: v["slug"] for k, v in variants.items()}}
    rows = []
    for task in sorted(sub[sub["method"].isin(list(variants))]["task"].unique()):
        block = sub[sub["task"] == task]
        models = models_by_size(block)
        paper = theirs[theirs["task"] == task]
        quoted = {r["trigger"]: r for _, r in paper.iterrows()}
        for key, text in texts.items():
            row = {"task": task, "trigger": slugs[key], "text": text}
            row |= {m: with_ci(_cell(block, m, task, key)) for m in models}
            hit = quoted.get(text)
            row |= _paper_cells(hit)
            rows.append(row)
        for text, hit in quoted.items():
            if text not in texts.values():
                rows.append({"task": task, "trigger": "(not run)", "text": text} | _paper_cells(hit))
    return pd.DataFrame(rows).fillna("")


def _paper_cells(hit) -> dict:
    """The paper's accuracy and category for one trigger (empty when the paper has none)."""
    if hit is None:
        return {"category": "", "Kojima et al.": ""}
    return {"category": hit["note"], "Kojima et al.": f"{pct(hit['accuracy'])} ({hit['model']})"}


def order_spread(acc: pd.DataFrame, metas: Sequence[dict], style: str) -> pd.DataFrame:
    """Accuracy over exemplar orders: per (task, model, few-shot method), the paper's order and each
    other order, then the spread (highest minus lowest, in points) and the standard deviation.
    Empty when the run has no exemplar-order variant."""
    variants = variants_by_kind(metas, "exemplar_order")
    if not variants:
        return pd.DataFrame()
    sub = acc[acc["style"] == style]
    orders = [PAPER_ORDER, *dict.fromkeys(v["order"] for v in variants.values())]
    rows = []
    for task in sorted(sub[sub["method"].isin(list(variants))]["task"].unique()):
        block = sub[sub["task"] == task]
        for model in models_by_size(block):
            for base in methods.ordered({methods.get(k).base for k in variants}):
                keys = {PAPER_ORDER: base} | {v["order"]: k for k, v in variants.items() if methods.get(k).base == base}
                cells = {o: _cell(block, model, task, keys[o]) for o in orders if o in keys}
                values = [c["accuracy"] for c in cells.values() if c is not None]
                if not values:
                    continue
                rows.append(
                    {"task": task, "model": model, "method": methods.label(base)}
                    | {o: with_ci(c) for o, c in cells.items()}
                    | {
                        "spread": f"{max(values) - min(values):.1f}",
                        "sd": f"{statistics.pstdev(values):.1f}" if len(values) > 1 else "",
                    }
                )
    return pd.DataFrame(rows).fillna("")


def format_comparison(acc: pd.DataFrame, sig: pd.DataFrame | None, metas: Sequence[dict], style: str) -> pd.DataFrame:
    """The plain against the chat prompt format: per (task, model, method), both accuracies, their
    difference and McNemar's exact p on the same questions (SIGNIFICANT when p < 0.05); n/a where
    the model has no chat template. Empty when the run has no prompt-format variant."""
    variants = variants_by_kind(metas, "prompt_format")
    if not variants:
        return pd.DataFrame()
    skipped = not_applicable(metas)
    sub = acc[acc["style"] == style]
    tests = (
        {}
        if sig is None
        else {(r["model"], r["task"], r["method_b"]): r for _, r in sig[sig["style"] == style].iterrows()}
    )
    units = {(m["model"]["slug"], m["task"]["key"], m["method"]) for m in metas if m["method"] in variants}
    rank = methods.ordered_with_variants({k for _, _, k in units})
    rows = []
    for model, task, key in sorted(units, key=lambda u: (u[1], u[0], rank.index(u[2]))):
        base = methods.get(key).base
        plain, chat, test = _cell(sub, model, task, base), _cell(sub, model, task, key), tests.get((model, task, key))
        why = skipped.get((model, task, key))
        rows.append(
            {
                "task": task,
                "model": model,
                "method": methods.label(base),
                "plain": with_ci(plain),
                CHAT_FORMAT: f"{NOT_APPLICABLE} ({why})" if why else with_ci(chat),
                "delta": "" if plain is None or chat is None else f"{chat['accuracy'] - plain['accuracy']:+.1f}",
                "McNemar p": ""
                if test is None
                else p_text(test["p_value"]) + (SIGNIFICANT if bool(test["significant"]) else ""),
            }
        )
    return pd.DataFrame(rows)


class AblationTables(NamedTuple):
    """The three prompt-ablation tables; each is empty when the run has no variant of its kind."""

    triggers: pd.DataFrame
    orders: pd.DataFrame
    formats: pd.DataFrame


def ablation_tables(
    acc: pd.DataFrame, sig: pd.DataFrame | None, published: pd.DataFrame, metas: Sequence[dict]
) -> AblationTables:
    """The trigger study under the paper-faithful extraction (Kojima et al. scored that way), the
    exemplar-order spread and the prompt-format comparison under the robust one. ``metas`` holds
    every unit's metadata, those that did not apply to their model included: the format table
    names why a cell is n/a."""
    return AblationTables(
        triggers=trigger_study(acc, metas, published, "kojima"),
        orders=order_spread(acc, metas, "robust"),
        formats=format_comparison(acc, sig, metas, "robust"),
    )
