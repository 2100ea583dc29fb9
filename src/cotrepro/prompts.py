"""Prompt construction: pure functions from (task trigger, method, exemplars, question) to text.

The strings here are the contract with the papers (tests pin them exactly):

- answer triggers follow the answer format, as in Kojima et al.'s code: numbers
  ``Therefore, the answer (arabic numerals) is``, choices ``Therefore, among A through E, the
  answer is``, yes/no ``Therefore, the answer (Yes or No) is``, text ``Therefore, the answer is``
- zero_shot (Kojima et al.'s baseline): ``Q: {question}\\nA: {direct answer trigger}``, where
  the direct trigger drops "Therefore, " (``The answer (arabic numerals) is``)
- zero_shot_cot, stage 1: ``Q: {question}\\nA: Let's think step by step.`` (a trigger-study variant
  puts its own trigger in place of "Let's think step by step.");
  stage 2: stage 1's prompt + the generated reasoning + `` \\n{answer trigger}`` (a space, then the
  newline that begins their trigger: their code joins ``x + z + " " + trigger``, and all of their
  released zero-shot CoT transcripts show it)
- few_shot: k exemplars ``Q: ...\\nA: The answer is N.`` joined by blank lines, then ``Q: {question}\\nA:``
- few_shot_cot: the same with each exemplar's rationale before ``The answer is N.``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cotrepro.methods import MethodSpec

COT_TRIGGER = "Let's think step by step."
FEW_SHOT_ANSWER_PREFIX = "The answer is"
EXEMPLAR_SEPARATOR = "\n\n"
STAGE2_JOIN = " \n"
"""Between zero-shot CoT's reasoning and its answer trigger: Kojima et al.'s ``" "`` plus the newline
their trigger starts with."""

_TRIGGERS = {
    "number": "Therefore, the answer (arabic numerals) is",
    "yes_no": "Therefore, the answer (Yes or No) is",
    "text": "Therefore, the answer is",
    "math": "Therefore, the answer is",
}


def answer_trigger(answer_format: str) -> str:
    """The zero-shot CoT stage-2 answer trigger for an answer format (``choice:ABCDE`` -> "among A through E")."""
    if answer_format.startswith("choice:"):
        letters = answer_format.removeprefix("choice:")
        return f"Therefore, among {letters[0]} through {letters[-1]}, the answer is"
    try:
        return _TRIGGERS[answer_format]
    except KeyError:
        raise ValueError(f"no answer trigger for answer format {answer_format!r}") from None


def direct_answer_trigger(answer_format: str) -> str:
    """The zero-shot baseline's answer prefix: the stage-2 trigger without "Therefore, ", as Kojima et al. did."""
    rest = answer_trigger(answer_format).removeprefix("Therefore, ")
    return rest[0].upper() + rest[1:]


def question_block(question: str) -> str:
    """``Q: {question}\\nA:``, the block every method ends with."""
    return f"Q: {question}\nA:"


def zero_shot(question: str, direct_answer_trigger: str) -> str:
    """Kojima et al.'s zero-shot baseline prompt."""
    return f"{question_block(question)} {direct_answer_trigger}"


def zero_shot_cot_stage1(question: str, trigger: str = COT_TRIGGER) -> str:
    """Stage 1 of zero-shot CoT: the reasoning-extraction prompt (``trigger``: another reasoning
    trigger, as in Kojima et al.'s trigger study)."""
    return f"{question_block(question)} {trigger}"


def zero_shot_cot_stage2(stage1_prompt: str, reasoning: str, answer_trigger: str) -> str:
    """Stage 2 of zero-shot CoT: stage 1's prompt, the generated reasoning, then the answer trigger.

    Joined as Kojima et al.'s code joins them, ``x + z + " " + "\\n" + trigger``: the reasoning is
    followed by a space and a newline.
    """
    return f"{stage1_prompt}{reasoning}{STAGE2_JOIN}{answer_trigger}"


def exemplar_block(exemplar: dict, cot: bool) -> str:
    """One few-shot exemplar: question, optional rationale, then ``The answer is N.``."""
    answer = f"{FEW_SHOT_ANSWER_PREFIX} {exemplar['answer']}."
    body = f"{exemplar['rationale']} {answer}" if cot else answer
    return f"{question_block(exemplar['question'])} {body}"


def few_shot(question: str, exemplars: Sequence[dict], cot: bool) -> str:
    """Few-shot (optionally chain-of-thought) prompt: exemplars, blank lines, the test question."""
    blocks = [exemplar_block(e, cot) for e in exemplars]
    return EXEMPLAR_SEPARATOR.join([*blocks, question_block(question)])


def build_prompt(
    spec: MethodSpec, question: str, *, answer_format: str, exemplars: Sequence[dict] = (), trigger: str = COT_TRIGGER
) -> str:
    """The (first-stage) prompt of the method ``spec`` declares (:mod:`cotrepro.methods`) for one
    question whose answer has ``answer_format``.

    The declaration decides the shape: exemplars first for a few-shot method (with rationales when
    it reasons), else the reasoning ``trigger`` for a reasoning method, else the direct answer
    trigger. ``exemplars`` must hold the k exemplars, in the order the prompt shows them, for the
    few-shot methods and is ignored otherwise.
    """
    if spec.few_shot:
        if not exemplars:
            raise ValueError(f"method {spec.key} needs exemplars")
        return few_shot(question, exemplars, cot=spec.reasoning)
    if spec.reasoning:
        return zero_shot_cot_stage1(question, trigger)
    return zero_shot(question, direct_answer_trigger(answer_format))
