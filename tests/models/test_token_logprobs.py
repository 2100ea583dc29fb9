"""Per-token log-probabilities recorded during generation (cotrepro.engine.hf.token_logprobs) equal
the model's own next-token distribution, read independently from ``generate``'s raw logits, and
every row the engine writes carries the sum over its kept tokens."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.hf.token_logprobs import TokenLogprobs, kept_sum
from cotrepro.engine.sampling import PathSampler, Sampling

PROMPTS = ["Q: What is 2 plus 3?\nA:", "Q: Ann has 7 pens and loses 4. How many are left?\nA:"]
SAMPLING = Sampling(paths=3, temperature=0.8, top_k=5, top_p=None, seed=0)


@pytest.mark.parametrize("sampled", [False, True])
def test_recorded_log_probabilities_are_the_models_unwarped_ones(tiny_models, sampled):
    model = AutoModelForCausalLM.from_pretrained(tiny_models["causal"], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(tiny_models["causal"])
    tok.padding_side = "left"
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    recorder = TokenLogprobs()
    processors = [recorder]
    if sampled:  # the sampler warps and perturbs after the recorder has read the model's scores
        processors.append(PathSampler(SAMPLING, [11, 12], torch.device("cpu")))
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=10,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            logits_processor=LogitsProcessorList(processors),
            output_logits=True,
            return_dict_in_generate=True,
        )
    new = out.sequences[:, enc["input_ids"].shape[1] :]
    raw = torch.stack(out.logits, dim=1).float().log_softmax(-1)  # [B, T, V], before any processor
    expected = raw.gather(2, new.unsqueeze(-1)).squeeze(-1).tolist()
    got = recorder.per_row(out.sequences)
    assert [len(r) for r in got] == [new.shape[1]] * 2
    assert all(g == pytest.approx(e, abs=1e-5) for g, e in zip(got, expected, strict=True))
    assert kept_sum(got[0], 3) == pytest.approx(sum(expected[0][:3]), abs=1e-5)


def test_every_generated_row_carries_its_log_probability(tiny_models):
    b = HFBackend(tiny_models["causal"], "causal", device="cpu", dtype="float32", batch_size=4, stop=["Q:"])
    enc = b.encode(PROMPTS)
    greedy = b.generate(enc, 12)
    paths = b.sample(enc, ["a", "b"], 12, SAMPLING)
    one_path = b.sample(enc, ["a", "b"], 12, Sampling(paths=1, temperature=0.0, top_k=None, top_p=None, seed=0))
    assert all(c.logprob is not None and c.logprob <= 0 for c in [*greedy, *(p for ps in paths for p in ps)])
    # A greedy "path" that continues as the greedy row did (random weights have near-ties, where
    # the two batch layouts may part) has the same log-probability.
    same = [(ps[0], c) for ps, c in zip(one_path, greedy, strict=True) if ps[0].text == c.text]
    assert same and all(p.logprob == pytest.approx(c.logprob, abs=1e-4) for p, c in same)
    seq2seq = HFBackend(tiny_models["seq2seq"], "seq2seq", device="cpu", dtype="float32", batch_size=4)
    assert all(c.logprob is not None and c.logprob <= 0 for c in seq2seq.generate(seq2seq.encode(PROMPTS), 8))
