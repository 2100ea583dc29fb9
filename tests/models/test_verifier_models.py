"""The demo's tiny verifiers and the verifier forward passes on real tiny models: built, loaded with
remote code off, scored; batched continuation log-probabilities equal one-at-a-time ones, for a
decoder and an encoder-decoder."""

import math

import pytest
import torch

from cotrepro.engine.hf.verifier_scores import (
    continuation_logprobs,
    load_verifier_model,
    orm_score,
    orm_scores,
    p_true,
    p_trues,
    prm_step_scores,
    prm_step_scores_many,
    safetensors_parameters,
    self_eval_prompt,
)
from cotrepro.models.tiny import build_tiny_model, build_tiny_verifier


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("verifiers")
    return {
        "orm": build_tiny_verifier("orm", root / "orm"),
        "prm": build_tiny_verifier("prm", root / "prm"),
        "causal": build_tiny_model("causal", root / "causal"),
        "seq2seq": build_tiny_model("seq2seq", root / "seq2seq"),
    }


def test_the_tiny_orm_is_a_one_label_classifier(built):
    model, tok = load_verifier_model(built["orm"], "classifier", "cpu")
    assert model.config.num_labels == 1 and safetensors_parameters(built["orm"]) == sum(
        p.numel() for p in model.parameters()
    )
    score, tokens = orm_score(model, tok, "Q: 2 + 3?\nA: 2 + 3 = 5. The answer is 5.")
    assert math.isfinite(score) and tokens > 5


def test_the_tiny_prm_reads_math_shepherd_steps(built):
    model, tok = load_verifier_model(built["prm"], "causal", "cpu")
    steps, tokens = prm_step_scores(model, tok, "math-shepherd", "Q: 2 + 3?", "2 + 3 = 5.\nThe answer is 5.")
    assert len(steps) == 2 and all(0 < p < 1 for p in steps) and tokens > 5


def test_building_a_tiny_verifier_again_gives_the_same_files(built, tmp_path):
    again = build_tiny_verifier("prm", tmp_path / "prm")
    assert (again / "model.safetensors").read_bytes() == (built["prm"] / "model.safetensors").read_bytes()


@pytest.mark.parametrize("head", ["causal", "seq2seq"])
def test_batched_continuations_equal_one_at_a_time(built, head):
    """Prompts of different lengths, right-padded into one pass, score as each does alone."""
    model, tok = load_verifier_model(built[head], head, "cpu")
    prompts = [
        self_eval_prompt("2 + 3?", "5"),
        self_eval_prompt("What is 12 + 30 + 7?", "It is 49, since 12 + 30 = 42."),
    ]
    batched = continuation_logprobs(model, tok, prompts, [" (A)", " (B)"])
    for prompt, ((a, b), tokens) in zip(prompts, batched, strict=True):
        (((a1,), _),) = continuation_logprobs(model, tok, [prompt], [" (A)"])
        (((b1,), _),) = continuation_logprobs(model, tok, [prompt], [" (B)"])
        assert (a, b) == pytest.approx((a1, b1), abs=1e-4) and a < 0 and b < 0
        assert tokens == 2 * (len(tok.encode(prompt)) + len(tok.encode(" (A)", add_special_tokens=False)))
    (p, _), (q, _) = p_trues(model, tok, "2 + 3?", ["5", "6"])
    assert p == pytest.approx(p_true(model, tok, "2 + 3?", "5")[0], abs=1e-4)
    assert q == pytest.approx(p_true(model, tok, "2 + 3?", "6")[0], abs=1e-4)
    (a, b), _ = batched[0]
    assert p == pytest.approx(torch.softmax(torch.tensor([a, b]), 0)[0].item(), abs=1e-4)


def test_batched_orm_and_prm_scores_equal_one_at_a_time(built):
    texts = ["Q: 2 + 3?\nA: 5.", "Q: What is 12 + 30 + 7?\nA: 12 + 30 = 42.\n42 + 7 = 49. The answer is 49."]
    model, tok = load_verifier_model(built["orm"], "classifier", "cpu")
    assert [s for s, _ in orm_scores(model, tok, texts)] == pytest.approx(
        [orm_score(model, tok, t)[0] for t in texts], abs=1e-4
    )
    model, tok = load_verifier_model(built["prm"], "causal", "cpu")
    batched = prm_step_scores_many(model, tok, "math-shepherd", "Q?", texts)
    for text, (steps, tokens) in zip(texts, batched, strict=True):
        alone, n = prm_step_scores(model, tok, "math-shepherd", "Q?", text)
        assert steps == pytest.approx(alone, abs=1e-4) and tokens == n
