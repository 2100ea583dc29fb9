"""Verifier forward passes on real tiny models: P(True), ORM heads, the remote-code refusal."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

from cotrepro.engine.hf.verifier_scores import (
    continuation_logprob,
    orm_score,
    p_true,
    refuse_remote_code,
    self_eval_prompt,
)
from cotrepro.models.tiny import LLAMA_SHAPE, build_tokenizer


@pytest.fixture(scope="module")
def tok():
    t = build_tokenizer()
    t.pad_token_id = t.pad_token_id or 0
    return t


def _config(tok, **kw):
    return LlamaConfig(**LLAMA_SHAPE, vocab_size=len(tok), pad_token_id=tok.pad_token_id, **kw)


def test_self_eval_prompt_is_kadavaths_format():
    assert self_eval_prompt(" Q? ", "R. 4") == (
        "Question: Q?\nProposed Answer: R. 4\nIs the proposed answer:\n (A) True\n (B) False\nThe proposed answer is:"
    )


def test_p_true_is_option_a_against_option_b(tok):
    torch.manual_seed(0)
    model = LlamaForCausalLM(_config(tok)).eval()
    p, tokens = p_true(model, tok, "Q?", "4")
    prompt = self_eval_prompt("Q?", "4")
    a, _ = continuation_logprob(model, tok, prompt, " (A)")
    b, _ = continuation_logprob(model, tok, prompt, " (B)")
    assert p == pytest.approx(torch.softmax(torch.tensor([a, b]), 0)[0].item())
    assert 0 < p < 1 and tokens > 2 * len(tok.encode(prompt))


@pytest.mark.parametrize("labels", [1, 2])
def test_orm_score_is_the_logit_or_p_label_1(tok, labels):
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(_config(tok, num_labels=labels)).eval()
    score, tokens = orm_score(model, tok, "Q?\nR. 4")
    logits = model(torch.tensor([tok.encode("Q?\nR. 4")])).logits[0]
    expected = logits[0].item() if labels == 1 else torch.softmax(logits, 0)[1].item()
    assert score == pytest.approx(expected) and tokens == len(tok.encode("Q?\nR. 4"))


def test_remote_code_verifiers_are_refused_in_one_line():
    refuse_remote_code("ok", {"architectures": ["LlamaForCausalLM"]})
    with pytest.raises(ValueError, match=r"^verifier prm: config.json has auto_map") as e:
        refuse_remote_code("prm", {"auto_map": {"AutoModel": "x.Y"}, "architectures": ["LlamaForCausalLM"]})
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"^verifier odd: architecture FancyPRMModel is not in transformers"):
        refuse_remote_code("odd", {"architectures": ["FancyPRMModel"]})
