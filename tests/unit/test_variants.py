"""The prompt ablations as method variants: keys, config validation, prompts, exemplar orders, the
papers' numbers they are set beside, and the tables that show them."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cotrepro import methods, prompts
from cotrepro.config import ConfigError, load_config, validate_config
from cotrepro.outputs import ablations
from cotrepro.outputs.published import main_rows, strategy_rows, trigger_rows
from cotrepro.outputs.tables import comparison, comparison_pairs
from cotrepro.plan import run_units
from cotrepro.variants import order_exemplars, variant_settings

REPO = Path(__file__).resolve().parents[2]
DETECTIVE = "Let's think like a detective step by step."


def test_a_variant_key_behaves_as_its_method_with_its_own_label():
    spec = methods.get("zero_shot_cot@detective")
    assert spec.base == "zero_shot_cot" and spec.variant == "detective" and spec.two_stage
    assert spec.label == "zero-shot CoT [detective]" and spec.color == methods.color("zero_shot_cot")
    assert methods.get("zero_shot_cot").variant is None and methods.get("zero_shot_cot").base == "zero_shot_cot"
    with pytest.raises(ValueError, match="unknown method 'zero_shot_tot@x'"):
        methods.get("zero_shot_tot@x")
    with pytest.raises(ValueError, match="needs a slug"):
        methods.get("few_shot@")
    present = ["few_shot_cot@reversed", "zero_shot", "few_shot_cot", "zero_shot_cot@detective", "zero_shot_cot"]
    assert methods.ordered_with_variants(present) == [
        "zero_shot",
        "zero_shot_cot",
        "zero_shot_cot@detective",
        "few_shot_cot",
        "few_shot_cot@reversed",
    ]
    assert methods.ordered(present) == ["zero_shot", "zero_shot_cot", "few_shot_cot"]
    assert ("zero_shot_cot", "zero_shot_cot@detective") in methods.pairs(present)
    assert not [p for p in methods.pairs() if "@" in p[1]]


def test_a_trigger_variant_prompt_replaces_only_the_trigger():
    question = "Ann has 3 apples and buys 2 more. How many apples does she have?"
    assert prompts.build_prompt(
        methods.get("zero_shot_cot@detective"), question, answer_format="number", trigger=DETECTIVE
    ) == (f"Q: {question}\nA: Let's think like a detective step by step.")
    assert prompts.build_prompt(methods.get("zero_shot_cot"), question, answer_format="number") == (
        f"Q: {question}\nA: Let's think step by step."
    )


def test_exemplar_orders_are_the_papers_reversed_and_one_seeded_shuffle():
    items = [{"question": str(i)} for i in range(6)]
    assert order_exemplars(items, "paper", 0) == items
    assert order_exemplars(items, "reversed", 0) == items[::-1]
    shuffled = order_exemplars(items, "shuffled", 0)
    assert shuffled == order_exemplars(items, "shuffled", 0) != items and sorted(shuffled, key=str) == items
    assert order_exemplars(items, "shuffled", 1) != shuffled
    # Two exemplars: the only other order, never the paper's own.
    assert order_exemplars(items[:2], "shuffled", 0) == items[1::-1]
    with pytest.raises(ValueError, match="unknown exemplar order 'sorted'"):
        order_exemplars(items, "sorted", 0)


def _demo() -> dict:
    with open(REPO / "config/demo.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_the_demo_config_runs_each_variant_on_the_ablation_task_only():
    config = load_config(REPO / "config/demo.yaml", REPO)
    assert list(variant_settings(config)) == [
        "zero_shot@chat",
        "zero_shot_cot@chat",
        "zero_shot_cot@detective",
        "few_shot@chat",
        "few_shot@reversed",
        "few_shot@shuffled",
        "few_shot_cot@chat",
        "few_shot_cot@reversed",
        "few_shot_cot@shuffled",
    ]
    assert variant_settings(config)["few_shot@shuffled"] == {"kind": "exemplar_order", "order": "shuffled", "seed": 0}
    ablated = [(t, m) for t, m in run_units(config) if "@" in m]
    assert len(ablated) == 9 and {t for t, _ in ablated} == {"logic"}


def test_an_ablation_of_a_method_the_run_leaves_out_is_not_run():
    only = {"methods": ["zero_shot", "few_shot"], "method_tasks": {}, "batch_invariance": None}
    config = validate_config(_demo() | only, REPO)
    assert list(variant_settings(config)) == [
        "zero_shot@chat",
        "few_shot@chat",
        "few_shot@reversed",
        "few_shot@shuffled",
    ]


def test_ablations_on_a_task_the_run_leaves_out_are_not_run():
    config = validate_config(_demo() | {"tasks": ["arith_demo", "coin_flip"]}, REPO)
    assert variant_settings(config) and not [m for _, m in run_units(config) if "@" in m]


def test_default_config_has_no_variants():
    config = validate_config(
        _demo()
        | {
            "triggers": [{"slug": "step-by-step", "text": prompts.COT_TRIGGER}],
            "exemplar_orders": ["paper"],
            "prompt_formats": ["plain"],
        },
        REPO,
    )
    assert variant_settings(config) == {}
    assert not [m for _, m in run_units(config) if "@" in m]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ablation_tasks": ["gsm9k"]}, "'ablation_tasks[0]' = 'gsm9k' is not a known task"),
        (
            {"triggers": [{"slug": "a", "text": "First,"}, {"slug": "a", "text": "Let's think"}]},
            "the slug 'a' appears twice",
        ),
        ({"triggers": [{"slug": "chat", "text": "First,"}]}, "slug 'chat' is the prompt-format variant's"),
        ({"triggers": [{"slug": "x.y", "text": "First,"}]}, "'triggers[0].slug' = 'x.y' is malformed"),
        ({"exemplar_orders": ["reversed"]}, "'exemplar_orders' must include 'paper'"),
        ({"prompt_formats": ["chat"]}, "'prompt_formats' must include 'plain'"),
    ],
)
def test_bad_ablation_settings_are_refused_with_the_key_to_fix(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(_demo() | change, REPO)


def test_the_chat_ablation_needs_plain_base_units():
    config = _demo()
    config["model_specs"] = copy.deepcopy(config["model_specs"])
    config["model_specs"]["tiny-llama"]["chat_template"] = True
    with pytest.raises(ConfigError, match="'model_specs.tiny-llama.chat_template' is true"):
        validate_config(config, REPO)


def test_published_self_consistency_and_trigger_study_rows_are_complete():
    pub = pd.read_csv(REPO / "config/published.csv")
    sc = main_rows(pub)[main_rows(pub)["method"] == "few_shot_cot_sc"]  # Wang et al.'s Table 1: its own test
    assert (sc["paths"] == 40).all() and len(sc) == 5 * 9  # Wang et al.: 5 models x 9 of our tasks
    keys = ["source", "model", "task", "note"]
    greedy = main_rows(pub)[main_rows(pub)["method"] == "few_shot_cot"].fillna({"note": ""}).set_index(keys)["accuracy"]
    for _, r in sc.fillna({"note": ""}).iterrows():
        assert r["accuracy"] >= greedy[tuple(r[k] for k in keys)], r.to_dict()  # SC never lost in their tables
    assert pub.loc[(pub["source"] == "Wang2022 Table 2") & (pub["model"] == "PaLM 540B") & (pub["task"] == "gsm8k")][
        "accuracy"
    ].tolist() == [56.5, 74.4]

    table4 = trigger_rows(pub)
    assert (
        len(table4) == 16
        and table4["trigger"].is_unique
        and set(table4["note"])
        == {
            "instructive",
            "misleading",
            "irrelevant",
        }
    )
    with open(REPO / "config/triggers.yaml", encoding="utf-8") as fh:
        ours = [t["text"] for t in yaml.safe_load(fh)["triggers"]]
    assert ours == table4["trigger"].tolist()
    best = table4.iloc[0]
    table1 = pub[(pub["source"] == "Kojima2022 Table 1") & (pub["task"] == "multiarith")]
    assert best["trigger"] == prompts.COT_TRIGGER
    assert best["accuracy"] == table1[table1["method"] == "zero_shot_cot"]["accuracy"].item() == 78.7
    # The trigger study stays out of the comparisons of methods.
    assert main_rows(pub)["trigger"].isna().all() and len(main_rows(pub)) + 16 + len(strategy_rows(pub)) == len(pub)
    # config/triggers.yaml overlays config/config.yaml (as --configfile does): 15 variants on MultiArith.
    overlay = {}
    for name in ("config.yaml", "triggers.yaml"):
        with open(REPO / "config" / name, encoding="utf-8") as fh:
            overlay |= yaml.safe_load(fh)
    config = validate_config(overlay, REPO)
    assert {m for t, m in run_units(config) if t == "multiarith"} == {"zero_shot", "zero_shot_cot"} | {
        f"zero_shot_cot@{t['slug']}" for t in config["triggers"][1:]
    }


def _acc(rows):
    return pd.DataFrame(
        [
            {
                "model": m,
                "task": t,
                "method": k,
                "style": s,
                "accuracy": a,
                "ci_low": a - 5,
                "ci_high": a + 5,
                "parameters": p,
                "n": 20,
            }
            for m, t, k, a, p in rows
            for s in ("kojima", "robust")
        ]
    )


def _meta(model, task, method, variant=None, **extra):
    return {"model": {"slug": model}, "task": {"key": task}, "method": method, "variant": variant, **extra}


def test_trigger_study_sets_each_trigger_beside_the_papers():
    acc = _acc(
        [
            ("m", "multiarith", "zero_shot_cot", 40.0, 1e9),
            ("m", "multiarith", "zero_shot_cot@detective", 30.0, 1e9),
        ]
    )
    metas = [
        _meta("m", "multiarith", "zero_shot_cot"),
        _meta(
            "m", "multiarith", "zero_shot_cot@detective", {"kind": "trigger", "slug": "detective", "text": DETECTIVE}
        ),
    ]
    pub = pd.read_csv(REPO / "config/published.csv")
    table = ablations.trigger_study(acc, metas, pub, "kojima")
    first, second = table.iloc[0], table.iloc[1]
    assert (first["text"], first["m"], first["Kojima et al."]) == (
        prompts.COT_TRIGGER,
        "40.0 [35.0, 45.0]",
        "78.7 (text-davinci-002)",
    )
    assert (second["trigger"], second["m"], second["Kojima et al."], second["category"]) == (
        "detective",
        "30.0 [25.0, 35.0]",
        "70.3 (text-davinci-002)",
        "instructive",
    )
    assert len(table) == 16 and (table["trigger"] == "(not run)").sum() == 14


def test_order_spread_and_format_comparison():
    acc = _acc(
        [
            ("m", "t", "few_shot", 40.0, 1e9),
            ("m", "t", "few_shot@reversed", 30.0, 1e9),
            ("m", "t", "few_shot@shuffled", 50.0, 1e9),
            ("m", "t", "few_shot@chat", 45.0, 1e9),
        ]
    )
    metas = [
        _meta("m", "t", "few_shot@reversed", {"kind": "exemplar_order", "order": "reversed", "seed": 0}),
        _meta("m", "t", "few_shot@shuffled", {"kind": "exemplar_order", "order": "shuffled", "seed": 0}),
        _meta("m", "t", "few_shot@chat", {"kind": "prompt_format", "format": "chat"}),
        _meta("n", "t", "few_shot@chat", {"kind": "prompt_format", "format": "chat"}, not_applicable="no template"),
    ]
    spread = ablations.order_spread(acc, metas, "robust").iloc[0]
    assert (spread["paper"], spread["reversed"], spread["shuffled"], spread["spread"], spread["sd"]) == (
        "40.0 [35.0, 45.0]",
        "30.0 [25.0, 35.0]",
        "50.0 [45.0, 55.0]",
        "20.0",
        "8.2",
    )
    sig = pd.DataFrame(
        [
            {
                "model": "m",
                "task": "t",
                "style": "robust",
                "method_a": "few_shot",
                "method_b": "few_shot@chat",
                "p_value": 0.01,
                "significant": True,
            }
        ]
    )
    formats = ablations.format_comparison(acc, sig, metas, "robust")
    assert formats.iloc[0][["plain", "chat", "delta", "McNemar p"]].tolist() == [
        "40.0 [35.0, 45.0]",
        "45.0 [40.0, 50.0]",
        "+5.0",
        "0.010*",
    ]
    assert formats.iloc[1]["chat"] == "n/a (no template)"
    # The report and the paper take all three from one call; this run has no trigger variant.
    found = ablations.ablation_tables(acc, sig, pd.DataFrame(columns=["trigger"]), metas)
    assert found.triggers.empty and found.orders.equals(ablations.order_spread(acc, metas, "robust"))
    assert found.formats.equals(formats)


def test_self_consistency_comparison_shows_wang_et_al_with_their_paths():
    acc = _acc([("m", "gsm8k", "few_shot_cot", 10.0, 1e9), ("m", "gsm8k", "few_shot_cot_sc", 20.0, 1e9)])
    pub = pd.read_csv(REPO / "config/published.csv")
    assert ("few_shot_cot", "few_shot_cot_sc") in comparison_pairs(acc, pub)
    table = comparison(acc, None, pub, ("few_shot_cot", "few_shot_cot_sc"))
    palm = table[(table["source"] == "Wang2022 Table 2, 40 paths") & (table["model"] == "PaLM 540B")].iloc[0]
    assert (palm["few-shot CoT"], palm["few-shot CoT + self-consistency"], palm["delta"]) == ("56.5", "74.4", "+17.9")


def test_wang_et_al_table_1_rows_name_our_strategies_and_stay_out_of_the_comparisons():
    """Wang et al.'s aggregation study (PaLM 540B, GSM8K; the values issue 26 quotes): one row per
    strategy, each a key of the choosers (or greedy), and none of them in the main tables' rows."""
    from cotrepro.outputs.strategies import LABELS

    pub = pd.read_csv(REPO / "config/published.csv")
    table1 = strategy_rows(pub)
    assert set(table1["strategy"]) <= set(LABELS) and table1.groupby(["task", "strategy"]).size().eq(1).all()
    rows = table1[table1["task"] == "gsm8k"]
    gsm8k = dict(zip(rows["strategy"], rows["accuracy"], strict=True))
    assert gsm8k == {
        "greedy": 56.5,
        "weighted_avg_unnormalized": 56.3,
        "weighted_avg_normalized": 22.1,
        "weighted_sum_unnormalized": 59.9,
        "weighted_sum_normalized": 74.1,
        "majority": 74.4,
    }
    assert (table1[table1["strategy"] != "greedy"]["paths"] == 40).all()
    assert not main_rows(pub)["source"].eq("Wang2022 Table 1").any()
