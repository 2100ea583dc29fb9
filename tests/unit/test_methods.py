"""The method registry: adding a method is one declaration, and every consumer picks it up."""

from pathlib import Path

import matplotlib.colors as mcolors
import pandas as pd
import pytest
import yaml

from cotrepro import methods, prompts
from cotrepro.config import ConfigError, validate_config
from cotrepro.outputs import plots, tables
from cotrepro.scoring.score import score_rows
from cotrepro.scoring.significance import significance_table

REPO = Path(__file__).resolve().parents[2]
TWIN = methods.MethodSpec(
    "few_shot_cot_twin",
    "few-shot CoT twin",
    "#CC79A7",
    few_shot=True,
    reasoning=True,
    cot_baseline="few_shot",
    zero_shot_counterpart="zero_shot_cot",
)
EXEMPLARS = [{"question": "What is 1 + 1?", "rationale": "1 + 1 = 2.", "answer": "2"}]
RECORDS = [
    {"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i), "answer_format": "number", "choices": None}
    for i in range(4)
]


def demo_config(**overrides) -> dict:
    """config/demo.yaml with top-level keys replaced and key ``methods`` left to its default unless given."""
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config.pop("methods", None)
    return {**config, **overrides}


@pytest.fixture
def twin(monkeypatch):
    """The registry with a throwaway method added at the end (removed again after the test)."""
    monkeypatch.setitem(methods.REGISTRY, TWIN.key, TWIN)
    return TWIN.key


def test_the_papers_methods_in_display_order():
    assert methods.all_keys() == (
        "zero_shot",
        "zero_shot_cot",
        "few_shot",
        "few_shot_cot",
        "few_shot_cot_sc",
        "zero_shot_cot_sc",
    )
    assert methods.default_keys() == ("zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot")
    assert [methods.get(k).stages for k in methods.all_keys()] == [1, 2, 1, 1, 1, 2]
    assert methods.pairs() == [
        ("zero_shot", "zero_shot_cot"),
        ("few_shot", "few_shot_cot"),
        ("zero_shot", "few_shot"),
        ("zero_shot_cot", "few_shot_cot"),
        ("few_shot_cot", "few_shot_cot_sc"),
        ("zero_shot_cot", "zero_shot_cot_sc"),
    ]
    with pytest.raises(ValueError, match="unknown method 'cot'; allowed: zero_shot, zero_shot_cot"):
        methods.get("cot")


def test_a_declaration_that_cannot_be_run_is_refused():
    with pytest.raises(ValueError, match="only zero-shot reasoning methods have an answer-extraction stage"):
        methods.MethodSpec("odd", "odd", "#000000", few_shot=True, reasoning=True, stages=2)
    with pytest.raises(ValueError, match="self-consistency samples reasoning paths of a greedy method"):
        methods.MethodSpec("odd", "odd", "#000000", few_shot=True, reasoning=False, samples=True)


def test_prompts_and_config_pick_up_a_new_method(twin):
    question = "What is 3 + 3?"
    assert prompts.build_prompt(methods.get(twin), question, answer_format="number", exemplars=EXEMPLARS) == (
        "Q: What is 1 + 1?\nA: 1 + 1 = 2. The answer is 2.\n\nQ: What is 3 + 3?\nA:"
    )
    assert methods.get(twin).first_stage_budget == "reasoning"
    assert validate_config(demo_config(methods=["zero_shot", twin]), REPO)["methods"] == ["zero_shot", twin]
    assert validate_config(demo_config(), REPO)["methods"][-1] == twin  # the default is every method


def test_config_names_the_registered_methods_when_one_is_unknown():
    with pytest.raises(ConfigError, match=r"'methods\[0\]' = 'cot' is not allowed; allowed values: zero_shot, "):
        validate_config(demo_config(methods=["cot"]), REPO)


def test_scoring_and_paired_tests_pick_up_a_new_method(twin):
    rows = [
        {
            "id": r["id"],
            "completion": f" {i} + {i} = {2 * i}. The answer is {2 * i if i % 2 else 99}.\n\nQ: next",
            "generated_tokens": 9,
            "hit_max_new_tokens": False,
            "over_context": False,
        }
        for i, r in enumerate(RECORDS)
    ]
    scores = score_rows(rows, RECORDS, twin)
    assert [s["pred_robust"] for s in scores] == ["99", "2", "99", "6"]
    assert [s["correct_robust"] for s in scores] == [False, True, False, True]
    baseline = [{**s, "correct_robust": False, "correct_kojima": False} for s in scores]
    sig = significance_table(
        {("m", "t", twin): scores, ("m", "t", "few_shot"): baseline, ("m", "t", "zero_shot_cot"): baseline}
    )
    robust = sig[sig["style"] == "robust"]
    assert list(zip(robust["method_a"], robust["method_b"], strict=True)) == [
        ("few_shot", twin),
        ("zero_shot_cot", twin),
    ]
    assert list(robust["only_b"]) == [2, 2]


def _accuracy(keys):
    return pd.DataFrame(
        [
            {
                "model": m,
                "parameters": p,
                "revision": "r",
                "task": "gsm8k",
                "method": k,
                "style": s,
                "n": 10,
                "correct": 3,
                "accuracy": 30.0,
                "ci_low": 10.8,
                "ci_high": 60.3,
                "mean_generated_tokens": 40.0,
                "frac_hit_max_new_tokens": 0.1,
                "frac_no_answer": 0.2,
                "frac_over_context": 0.0,
            }
            for m, p in (("small", 7.7e7), ("large", 2.8e9))
            for k in keys
            for s in ("kojima", "robust")
        ]
    )


def test_a_figure_and_a_table_pick_up_a_new_method(twin):
    acc = _accuracy(["few_shot", twin])
    fig = plots.methods_figure(acc)
    # One heat-map panel a method, titled with its label in its colour.
    titles = {ax.get_title(): ax.title for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert list(titles) == ["few-shot", "few-shot CoT twin"]
    assert mcolors.to_hex(titles["few-shot CoT twin"].get_color()) == TWIN.color.lower()
    matrix = tables.accuracy_matrix(acc, None, "robust")
    assert "few-shot CoT twin" in matrix.columns and "few-shot CoT" not in matrix.columns
    assert list(matrix["few-shot CoT twin"]) == ["30.0 [10.8, 60.3]"] * 2


def test_methods_not_in_the_registry_are_refused_by_every_consumer():
    with pytest.raises(ValueError, match="unknown method 'tree_of_thought'"):
        methods.get("tree_of_thought")
    with pytest.raises(ValueError, match="unknown method 'tree_of_thought'"):
        score_rows([{"id": "q0", "completion": "1"}], RECORDS, "tree_of_thought")
    assert yaml.safe_load((REPO / "config/schema.yaml").read_text())["definitions"]["method"] == {"type": "string"}
