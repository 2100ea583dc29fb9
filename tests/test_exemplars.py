"""Exemplar sets: parsing lm-evaluation-harness's layout and the project's own sets."""

import re
from pathlib import Path

import pytest

from cotrepro.data import exemplars

REPO = Path(__file__).resolve().parents[1]

# A fixture in lm-evaluation-harness's gsm8k-cot.yaml layout, with the project's own text.
LM_EVAL_YAML = """\
dataset_name: main
dataset_path: openai/gsm8k
doc_to_text: 'Q: {{question}}

  A:'
fewshot_config:
  sampler: first_n
  samples:
  - question: Ann has 2 cats and gets 3 more. How many cats does
      she have?
    target: Ann starts with 2 cats. She gets 3 more, so 2 + 3 = 5. The answer
      is 5.
  - question: A box has 10 pens and 4 are used. How many are left?
    target: 10 - 4 = 6 pens are left. The answer is 6.
process_results: !function utils.process_results
num_fewshot: 8
"""


def test_lm_eval_samples_split_into_rationale_and_answer():
    items = exemplars.parse_lm_eval_fewshot(LM_EVAL_YAML)
    assert items == [
        {
            "question": "Ann has 2 cats and gets 3 more. How many cats does she have?",
            "rationale": "Ann starts with 2 cats. She gets 3 more, so 2 + 3 = 5.",
            "answer": "5",
        },
        {
            "question": "A box has 10 pens and 4 are used. How many are left?",
            "rationale": "10 - 4 = 6 pens are left.",
            "answer": "6",
        },
    ]


def test_target_without_answer_sentence_is_rejected():
    with pytest.raises(ValueError, match="The answer is"):
        exemplars.split_target("Two plus two is four.")


def test_yaml_without_samples_is_rejected():
    with pytest.raises(ValueError, match="fewshot_config.samples"):
        exemplars.parse_lm_eval_fewshot("task: x\n")


EQUATION = re.compile(r"(\d+(?:\.\d+)?(?:\s*[-+*/]\s*\d+(?:\.\d+)?)+)\s*=\s*(\d+(?:\.\d+)?)")


def test_project_arithmetic_set_has_eight_correct_exemplars():
    items = exemplars.parse_project_set(exemplars.project_set_path(REPO, "cotrepro-arith").read_text())
    assert len(items) == 8
    for e in items:
        equations = EQUATION.findall(e["rationale"])
        assert equations, e
        for lhs, rhs in equations:  # every step's arithmetic is right ...
            assert eval(lhs) == float(rhs), (lhs, rhs)
        assert float(equations[-1][1]) == float(e["answer"]), e  # ... and the last step is the answer


def test_known_sets_lists_remote_and_project_sets():
    assert {"wei2022-gsm8k", "cotrepro-arith"} <= set(exemplars.known_sets(REPO))
