"""Process reward models' input formats: the token ids a PRM is fed for one reasoning path and the
positions whose next-token distribution scores each step.

Two documented formats, each followed as its authors' code feeds it:

- ``math-shepherd`` (peiyi9979/math-shepherd-mistral-7b-prm, model card example; the same in
  huggingface/search-and-learn ``sal/models/reward_models.py``, class ``MathShepherd``): one
  string ``"{question} {step 1} ки\\n{step 2} ки"``; a step's score is P(good) = softmax over the
  two label tokens ("+" good, "-" bad) of the logits *at* each step-tag ("ки") position.
- ``rlhflow`` (RLHFlow/Llama3.1-8B-PRM-Deepseek-Data, model card and RLHFlow/RLHF-Reward-Modeling
  ``math-rm/prm_evaluate.py``; search-and-learn's ``RLHFFlow``): a chat in the model's (Llama 3.1)
  template, each step one user turn (the first prefixed by ``"{question} "``) answered by an
  assistant turn "+"; a step's score is P("+") against "-" from the logits at the position just
  before that assistant "+" (the position that predicts it).

Steps are the path's non-empty lines (Math-Shepherd's card separates steps by "\\n"; a blank-line
separated path gives the same steps). Only format tokens are named here, no model text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FORMATS = ("math-shepherd", "rlhflow")
AGGREGATES = ("last", "min", "product")

MATH_SHEPHERD_STEP_TAG = "ки"
GOOD, BAD = "+", "-"


@dataclass(frozen=True)
class PrmInput:
    """What a PRM is fed for one path: ``input_ids``, the ``positions`` whose logits score the steps
    (one per step, in order) and the ``label_ids`` (good, bad) whose softmax gives P(good)."""

    input_ids: list[int]
    positions: list[int]
    label_ids: tuple[int, int]


def split_steps(reasoning: str) -> list[str]:
    """A path's steps: its non-empty lines, stripped (at least one: an empty path is one empty step)."""
    steps = [line.strip() for line in reasoning.split("\n") if line.strip()]
    return steps or [""]


def _single_token(tokenizer, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"PRM format token {text!r} is {len(ids)} tokens in this tokenizer, not one")
    return ids[0]


def math_shepherd_input(tokenizer, question: str, steps: list[str]) -> PrmInput:
    """Math-Shepherd's input: ``"{question} {step} ки\\n..."`` (BOS as the tokenizer adds it), scored at
    every step-tag token."""
    tag = _single_token(tokenizer, MATH_SHEPHERD_STEP_TAG)
    text = f"{question} " + "\n".join(f"{step} {MATH_SHEPHERD_STEP_TAG}" for step in steps)
    ids = tokenizer.encode(text)
    positions = [i for i, t in enumerate(ids) if t == tag]
    if len(positions) != len(steps):
        # The tag merged with a neighbour, or a step contains it: the scores would be misaligned.
        raise ValueError(f"Math-Shepherd input has {len(positions)} step tags for {len(steps)} steps")
    return PrmInput(ids, positions, (_single_token(tokenizer, GOOD), _single_token(tokenizer, BAD)))


def rlhflow_input(tokenizer, question: str, steps: list[str]) -> PrmInput:
    """RLHFlow's input: the chat of step turns each answered "+", in the tokenizer's chat template; each
    step read at the position before its assistant "+"."""
    good = _single_token(tokenizer, GOOD)
    conversation: list[dict] = []
    positions = []
    for k, step in enumerate(steps):
        conversation.append({"role": "user", "content": f"{question} {step}" if k == 0 else step})
        # The template up to the assistant header is a prefix of the full chat: "+" comes next.
        prefix = _chat_ids(tokenizer, conversation, add_generation_prompt=True)
        positions.append(len(prefix) - 1)
        conversation.append({"role": "assistant", "content": GOOD})
    ids = _chat_ids(tokenizer, conversation, add_generation_prompt=False)
    if any(ids[p + 1] != good for p in positions):
        raise ValueError("the chat template does not put each assistant '+' right after its header")
    return PrmInput(ids, positions, (good, _single_token(tokenizer, BAD)))


def _chat_ids(tokenizer, conversation: list[dict], add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=add_generation_prompt)
    return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)


BUILDERS = {"math-shepherd": math_shepherd_input, "rlhflow": rlhflow_input}


def prm_input(fmt: str, tokenizer, question: str, reasoning: str) -> PrmInput:
    """The input of PRM format ``fmt`` for one path (its reasoning split by :func:`split_steps`)."""
    if fmt not in BUILDERS:
        raise ValueError(f"unknown PRM format {fmt!r}; allowed: {', '.join(FORMATS)}")
    return BUILDERS[fmt](tokenizer, question, split_steps(reasoning))


def step_probabilities(logits, prm: PrmInput) -> list[float]:
    """P(good) at each scored position from a ``[sequence, vocab]`` logits tensor."""
    import torch

    pair = logits[prm.positions][:, list(prm.label_ids)].float()
    return torch.softmax(pair, dim=-1)[:, 0].tolist()


def aggregate(step_scores: list[float], how: str) -> float:
    """One path score from its step scores: the ``last`` step's, the ``min`` or the ``product``."""
    if how == "last":
        return step_scores[-1]
    if how == "min":
        return min(step_scores)
    if how == "product":
        return math.prod(step_scores)
    raise ValueError(f"unknown PRM aggregate {how!r}; allowed: {', '.join(AGGREGATES)}")
