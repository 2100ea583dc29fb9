"""PRM inputs in the two documented formats, on tiny tokenizers given those formats' tokens."""

import pytest
import torch

from cotrepro.engine.hf.prm_format import aggregate, prm_input, split_steps, step_probabilities
from cotrepro.models.tiny import build_tokenizer

# Llama 3.1's chat framing, reduced to its format tokens (no system turn): what the RLHFlow PRM's
# template puts around each turn.
LLAMA31_FRAMING = (
    "{{ '<|begin_of_text|>' }}{% for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + m['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
REASONING = "Step 1: 2 + 3 = 5.\n\nStep 2: 5 * 2 = 10.\n"


@pytest.fixture(scope="module")
def shepherd_tok():
    tok = build_tokenizer()
    tok.add_tokens(["ки", "+", "-"])  # single tokens, as in Mistral's vocabulary
    return tok


@pytest.fixture(scope="module")
def rlhflow_tok():
    tok = build_tokenizer(chat_template=LLAMA31_FRAMING)
    tok.add_special_tokens(
        {"additional_special_tokens": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    )
    tok.add_tokens(["+", "-"])
    return tok


def test_steps_are_the_non_empty_lines():
    assert split_steps(REASONING) == ["Step 1: 2 + 3 = 5.", "Step 2: 5 * 2 = 10."]
    assert split_steps("  \n") == [""]


def test_math_shepherd_feeds_question_and_tagged_steps_and_reads_the_tags(shepherd_tok):
    prm = prm_input("math-shepherd", shepherd_tok, "Q?", REASONING)
    tag, good, bad = (shepherd_tok.convert_tokens_to_ids(t) for t in ("ки", "+", "-"))
    assert prm.input_ids == shepherd_tok.encode("Q? Step 1: 2 + 3 = 5. ки\nStep 2: 5 * 2 = 10. ки")
    assert prm.positions == [i for i, t in enumerate(prm.input_ids) if t == tag]
    assert len(prm.positions) == 2 and prm.positions[-1] == len(prm.input_ids) - 1
    assert prm.label_ids == (good, bad)


def test_rlhflow_feeds_one_user_turn_per_step_answered_plus_and_reads_before_each_plus(rlhflow_tok):
    prm = prm_input("rlhflow", rlhflow_tok, "Q?", REASONING)
    expected = (
        "<|begin_of_text|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ? Step 1: 2 + 3 = 5.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n+<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nStep 2: 5 * 2 = 10.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n+<|eot_id|>"
    )
    assert rlhflow_tok.decode(prm.input_ids) == expected
    plus = rlhflow_tok.convert_tokens_to_ids("+")
    eot = rlhflow_tok.convert_tokens_to_ids("<|eot_id|>")
    # The read position predicts the assistant's "+", which is followed by its <|eot_id|>.
    assert [prm.input_ids[p + 1] for p in prm.positions] == [plus, plus]
    assert [prm.input_ids[p + 2] for p in prm.positions] == [eot, eot]
    # A one-step path is read where the model card reads it: third token from the end.
    one = prm_input("rlhflow", rlhflow_tok, "Q?", "Only step.")
    assert one.positions == [len(one.input_ids) - 3]


def test_step_probabilities_are_the_good_label_against_the_bad(shepherd_tok):
    prm = prm_input("math-shepherd", shepherd_tok, "Q?", REASONING)
    logits = torch.zeros(len(prm.input_ids), len(shepherd_tok))
    good, bad = prm.label_ids
    logits[prm.positions[0], good] = 2.0
    logits[prm.positions[1], bad] = 2.0
    logits[0, good] = 50.0  # positions that are not read do not count
    p = step_probabilities(logits, prm)
    assert p == pytest.approx([torch.sigmoid(torch.tensor(2.0)).item(), torch.sigmoid(torch.tensor(-2.0)).item()])
    assert aggregate(p, "last") == p[1] and aggregate(p, "min") == p[1]
    assert aggregate(p, "product") == pytest.approx(p[0] * p[1])
    with pytest.raises(ValueError, match="allowed: last, min, product"):
        aggregate(p, "mean")
