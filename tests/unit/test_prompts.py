"""The prompt strings are the contract with the papers: pinned here character for character."""

import pytest

from cotrepro import methods, prompts
from cotrepro.data.tasks import get_task

QUESTION = "A shop has 12 red and 7 blue kites. How many kites does it have?"
EXEMPLARS = [
    {
        "question": "Ann has 2 cats and gets 3 more. How many cats?",
        "rationale": "Ann has 2 + 3 = 5 cats.",
        "answer": "5",
    },
    {
        "question": "A box has 10 pens; 4 are used. How many are left?",
        "rationale": "10 - 4 = 6 pens are left.",
        "answer": "6",
    },
]
GSM8K = get_task("gsm8k")


def test_zero_shot_is_kojima_baseline():
    assert prompts.build_prompt(methods.get("zero_shot"), QUESTION, answer_format="number") == (
        "Q: A shop has 12 red and 7 blue kites. How many kites does it have?\nA: The answer (arabic numerals) is"
    )


def test_zero_shot_cot_two_stages():
    stage1 = prompts.build_prompt(methods.get("zero_shot_cot"), QUESTION, answer_format="number")
    assert stage1 == (
        "Q: A shop has 12 red and 7 blue kites. How many kites does it have?\nA: Let's think step by step."
    )
    reasoning = " There are 12 + 7 = 19 kites."
    assert prompts.zero_shot_cot_stage2(stage1, reasoning, GSM8K.answer_trigger) == (
        "Q: A shop has 12 red and 7 blue kites. How many kites does it have?\n"
        "A: Let's think step by step. There are 12 + 7 = 19 kites. \n"
        "Therefore, the answer (arabic numerals) is"
    )


def test_few_shot_keeps_only_the_answer_sentence():
    assert prompts.build_prompt(methods.get("few_shot"), QUESTION, answer_format="number", exemplars=EXEMPLARS) == (
        "Q: Ann has 2 cats and gets 3 more. How many cats?\nA: The answer is 5.\n\n"
        "Q: A box has 10 pens; 4 are used. How many are left?\nA: The answer is 6.\n\n"
        "Q: A shop has 12 red and 7 blue kites. How many kites does it have?\nA:"
    )


def test_few_shot_cot_puts_rationale_before_answer():
    assert prompts.build_prompt(methods.get("few_shot_cot"), QUESTION, answer_format="number", exemplars=EXEMPLARS) == (
        "Q: Ann has 2 cats and gets 3 more. How many cats?\nA: Ann has 2 + 3 = 5 cats. The answer is 5.\n\n"
        "Q: A box has 10 pens; 4 are used. How many are left?\nA: 10 - 4 = 6 pens are left. The answer is 6.\n\n"
        "Q: A shop has 12 red and 7 blue kites. How many kites does it have?\nA:"
    )


def test_direct_trigger_derived_like_kojima():
    assert GSM8K.answer_trigger == "Therefore, the answer (arabic numerals) is"
    assert GSM8K.direct_answer_trigger == "The answer (arabic numerals) is"


def test_few_shot_without_exemplars_is_an_error():
    with pytest.raises(ValueError, match="needs exemplars"):
        prompts.build_prompt(methods.get("few_shot"), QUESTION, answer_format="number")


@pytest.mark.parametrize(
    "method,budget",
    [("zero_shot", "answer"), ("few_shot", "answer"), ("zero_shot_cot", "reasoning"), ("few_shot_cot", "reasoning")],
)
def test_first_stage_budget(method, budget):
    assert methods.get(method).first_stage_budget == budget
