"""The decoding engine against the plain path: shared prefix, static cache and device stop check
must change no token, on tiny causal and seq2seq models and every method's prompts."""

import json
import subprocess
import sys

import pytest
import torch

from cotrepro import methods, prompts
from cotrepro.engine.completion import cut_at_stop
from cotrepro.engine.hf import encoder_rows as encoder_attention
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.hf.encoder_rows import encoder_rows, right_padding_lengths
from cotrepro.engine.hf.engine import GREEDY, Engine, common_prefix
from cotrepro.io import read_jsonl

EXEMPLARS = [
    {
        "question": f"Caro has {3 * i + 2} stamps and gets {i + 4} more. How many stamps does she have?",
        "rationale": f"Caro starts with {3 * i + 2}. {3 * i + 2} + {i + 4} = {4 * i + 6}.",
        "answer": str(4 * i + 6),
    }
    for i in range(4)
]
QUESTIONS = [
    "Ben has 3 apples and buys 4 more. How many apples does he have now?",
    "Hi?",
    "A train goes 60 km per hour for 3 hours. How far does it go in total, in kilometers?",
    "Dev finds 12 coins, loses 5 and then finds 9 more coins. How many coins?",
    "Ema bakes 7 eggs.",
    "Gus collects 40 tickets on Monday and 25 on Tuesday. How many tickets does Gus have?",
    "Hana sells 8 books.",
]
MAX_NEW = 20


def method_prompts(method: str) -> list[str]:
    """The first-stage prompts of a method for the test questions."""
    return [
        prompts.build_prompt(methods.get(method), q, answer_format="number", exemplars=EXEMPLARS) for q in QUESTIONS
    ]


def free_run(b: HFBackend, ids: list[list[int]]) -> list[list[int]]:
    """The plain path, one row at a time: transformers' generate with its default (dynamic) cache,
    no padding and no stopping criteria; the generated tokens of each row."""
    out = []
    for row in ids:
        with torch.inference_mode():
            gen = b.model.generate(
                input_ids=torch.tensor([row]), max_new_tokens=MAX_NEW, **GREEDY, pad_token_id=b.tokenizer.pad_token_id
            )
        out.append(gen[0, len(row) if b.architecture == "causal" else 1 :].tolist())
    return out


def reference(b: HFBackend, free: list[list[int]], stops: tuple[str, ...]) -> list[tuple[str, int, str]]:
    """Free runs cut on the host at the first token whose text completes a stop sequence (as the old
    per-step check did) or at the end-of-sequence token: (text, generated tokens, stop reason)."""
    out = []
    for tokens in free:
        n, reason = len(tokens), "max_new_tokens"
        eos = next((i for i, t in enumerate(tokens) if t in b.engine.eos_ids), None)
        if eos is not None:
            n, reason = eos + 1, "eos"
        for k in range(1, n + 1):
            if any(s in b.tokenizer.decode(tokens[:k], skip_special_tokens=True) for s in stops):
                n, reason = k, "stop_sequence"
                break
        text = cut_at_stop(b.tokenizer.decode(tokens[:n], skip_special_tokens=True), stops)[0]
        out.append((text, n, reason))
    return out


@pytest.fixture(scope="module")
def backends(tiny_models):
    return {arch: HFBackend(tiny_models[arch], arch, device="cpu", batch_size=3) for arch in ("causal", "seq2seq")}


def stops_for(b: HFBackend, free: list[list[int]]) -> tuple[str, ...]:
    """``Q:`` and a two-character string the random model really writes in about half its rows,
    so that rows stop at different steps."""
    free = [text for text, _, _ in reference(b, free, ())]
    candidates = {t[i : i + 2] for t in free for i in range(2, len(t) - 2)}
    pick = min(sorted(candidates), key=lambda s: abs(sum(s in t for t in free) - len(free) / 2))
    return ("Q:", pick)


@pytest.mark.parametrize("method", methods.all_keys())
@pytest.mark.parametrize("arch", ["causal", "seq2seq"])
def test_engine_variants_match_the_plain_path(backends, arch, method):
    b = backends[arch]
    ids = b.encode(method_prompts(method))
    free = free_run(b, ids)
    stops = stops_for(b, free)
    expected = reference(b, free, stops)
    assert {reason for _, _, reason in expected} >= {"stop_sequence"}
    variants = [("static", True), ("static", False), ("dynamic", True), ("dynamic", False)]
    for cache, share in variants if arch == "causal" else variants[::2]:
        engine = Engine(b.model, b.tokenizer, arch, stop=stops, batch_size=3, cache=cache, share_prefixes=share)
        engine.prepare(ids, MAX_NEW)
        got = engine.generate(ids, MAX_NEW)
        assert [(c.text, c.generated_tokens, c.stop_reason) for c in got] == expected, (cache, share)
        assert [c.prompt_tokens for c in got] == [len(x) for x in ids]
        shared = engine.describe()["shared_prefix_tokens"]
        if share and arch == "causal":
            assert shared == len(common_prefix(ids))
            if methods.get(method).few_shot:  # the exemplars at least (give or take a merged boundary token)
                exemplars = prompts.EXEMPLAR_SEPARATOR.join(
                    prompts.exemplar_block(e, methods.get(method).reasoning) for e in EXEMPLARS
                )
                assert shared >= len(b.encode([exemplars])[0]) - 2
        else:
            assert shared == 0


def test_zero_shot_cot_second_stage_bypasses_a_stale_prefix(backends):
    """Stage-2 inputs do not start with the unit's prefix; they must run unshared, unchanged."""
    b = backends["causal"]
    engine = Engine(b.model, b.tokenizer, "causal", stop=("Q:",), batch_size=3)
    engine.prepare(b.encode(method_prompts("few_shot_cot")), MAX_NEW)
    assert engine.prefix is not None
    stage2 = [
        prompts.zero_shot_cot_stage2(p, " It is 7.", "Therefore, the answer is")
        for p in method_prompts("zero_shot_cot")
    ]
    ids = b.encode(stage2)
    got = engine.generate(ids, MAX_NEW)
    assert [(c.text, c.generated_tokens, c.stop_reason) for c in got] == reference(b, free_run(b, ids), ("Q:",))


def test_common_prefix_leaves_each_input_a_token():
    assert common_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == [1, 2]
    assert common_prefix([[1, 2, 3], [1, 2, 3]]) == [1, 2]
    assert common_prefix([[7], [7, 8]]) == []
    assert common_prefix([]) == []


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop(" 18.\n\nQ: next\n###", ["###", "Q:"]) == (" 18.\n\n", True)
    assert cut_at_stop(" 18.", ["Q:"]) == (" 18.", False)


LOGPROB_TOLERANCE = 1e-4
"""How far two computations of one path's summed log-probability may differ (the rows contract,
cotrepro.rows): the sum's last digits depend on the batch layout, about 1e-6 between batch sizes."""


def same_completions(a, b, tolerance=LOGPROB_TOLERANCE) -> bool:
    """Text, token counts and stop reasons exactly; log-probabilities within ``tolerance``."""

    def fields(c):
        return (c.text, c.prompt_tokens, c.generated_tokens, c.stop_reason)

    return len(a) == len(b) and all(
        fields(x) == fields(y)
        and (x.logprob is None) == (y.logprob is None)
        and (x.logprob is None or abs(x.logprob - y.logprob) <= tolerance)
        for x, y in zip(a, b, strict=True)
    )


class _OOMAbove(Engine):
    """Raises CUDA's out-of-memory error for batches above a size, as a too-small GPU would."""

    limit = 2

    def _generate_batch(self, inputs, max_new_tokens, budget=None):
        if len(inputs) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return super()._generate_batch(inputs, max_new_tokens, budget)


def test_out_of_memory_halves_batch_and_keeps_every_row(backends):
    b = backends["causal"]
    ids = b.encode(method_prompts("zero_shot") * 2)
    engine = _OOMAbove(b.model, b.tokenizer, "causal", stop=("Q:",), batch_size=8)
    out = engine.generate(ids, 6)
    assert engine.batch_size == 2 and engine.describe()["final_batch_size"] == 2
    plain = Engine(b.model, b.tokenizer, "causal", stop=("Q:",), batch_size=8).generate(ids, 6)
    assert same_completions(out, plain)


def test_auto_batch_size_probe_finds_the_largest_fitting_power_of_two(backends):
    b = backends["causal"]
    engine = _OOMAbove(b.model, b.tokenizer, "causal", batch_size="auto")
    engine.limit = 13
    assert engine.probe_batch_size(b.encode(["Q: Hi\nA:"])[0], 4) == 8
    assert engine.describe()["batch_size_setting"] == "auto"


def test_cli_generates_a_prompt_file_in_input_order(tiny_models, tmp_path):
    """``cotrepro generate`` on both architectures: the same completions as the backend, in input order."""
    rows = [{"id": f"q{i}", "prompt": p} for i, p in enumerate(method_prompts("few_shot_cot")[:5])]
    rows.insert(2, {"id": 99, "prompt": "Q: Hi\nA:"})  # breaks the common prefix for one row; ids may be numbers
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for arch in ("causal", "seq2seq"):
        out = tmp_path / f"{arch}.jsonl"
        args = ["--model-dir", str(tiny_models[arch]), "--architecture", arch, "--prompts", str(src)]
        args += ["--out", str(out), "--max-new-tokens", "12", "--batch-size", "2", "--stop", "Q:", "--device", "cpu"]
        proc = subprocess.run(
            [sys.executable, "-m", "cotrepro.engine.cli", "generate", *args], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        got = read_jsonl(out)
        assert [r["id"] for r in got] == [r["id"] for r in rows]
        assert set(got[0]) == {"id", "completion", "prompt_tokens", "generated_tokens", "stop_reason"}
        b = HFBackend(tiny_models[arch], arch, device="cpu", batch_size=2, stop=("Q:",))
        expected = b.generate([r["prompt"] for r in rows], 12)
        assert [(r["completion"], r["generated_tokens"], r["stop_reason"]) for r in got] == [
            (c.text, c.generated_tokens, c.stop_reason) for c in expected
        ]
        again = subprocess.run(
            [sys.executable, "-m", "cotrepro.engine.cli", "generate", *args], capture_output=True, text=True
        )
        assert again.returncode == 2 and "--overwrite" in again.stderr  # never silently overwritten


def test_cli_names_the_bad_line_before_loading_a_model(tmp_path):
    src = tmp_path / "prompts.jsonl"
    src.write_text('{"id": 1, "prompt": "Q: a\\nA:"}\n{"id": 1, "prompt": "Q: b\\nA:"}\n')
    args = ["generate", "--model-dir", str(tmp_path / "nowhere"), "--architecture", "causal"]
    args += ["--prompts", str(src), "--out", str(tmp_path / "o.jsonl"), "--max-new-tokens", "4"]
    proc = subprocess.run([sys.executable, "-m", "cotrepro.engine.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "line 2: id 1 appears twice" in proc.stderr


@pytest.mark.parametrize("groups", [1, 3])
def test_shared_prefix_attention_equals_attention_over_the_whole_sequence(groups):
    """The prefix read once (batch folded into the queries) and each row's own keys, in one softmax:
    the same as ordinary attention over [prefix; own tokens], grouped query heads included."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from cotrepro.engine.hf import shared_prefix

    torch.manual_seed(0)
    batch, kv_heads, d, n_prefix, n_own, queries = 3, 2, 16, 11, 5, 2
    q = torch.randn(batch, kv_heads * groups, queries, d)
    prefix_k, prefix_v = torch.randn(1, kv_heads, n_prefix, d), torch.randn(1, kv_heads, n_prefix, d)
    own_k, own_v = torch.randn(batch, kv_heads, n_own, d), torch.randn(batch, kv_heads, n_own, d)
    visible = torch.ones(batch, 1, queries, n_own, dtype=torch.bool)
    visible[0, :, :, :2] = False  # row 0's first own tokens are padding
    visible[:, :, 0, -1] = False  # the first query does not see the last key (causal)
    mask = torch.zeros(visible.shape).masked_fill(~visible, torch.finfo(torch.float32).min)
    with shared_prefix.shared_prefix(
        SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa")), [(prefix_k, prefix_v)]
    ):
        got, _ = shared_prefix.attention(SimpleNamespace(layer_idx=0), q, own_k, own_v, mask)
    keys = torch.cat([prefix_k.expand(batch, -1, -1, -1), own_k], dim=2).repeat_interleave(groups, dim=1)
    values = torch.cat([prefix_v.expand(batch, -1, -1, -1), own_v], dim=2).repeat_interleave(groups, dim=1)
    full_mask = torch.cat([torch.ones(batch, 1, queries, n_prefix, dtype=torch.bool), visible], dim=-1)
    expected = F.scaled_dot_product_attention(q, keys, values, attn_mask=full_mask).transpose(1, 2)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_encoder_rows_equal_the_padded_mask_and_leave_other_masks_to_sdpa(backends):
    """A right-padded T5 batch encoded row by row over its real tokens gives the hidden states the
    padded [B, H, L, L] mask gives; a mask that is not right padding goes to SDPA unchanged."""
    b = backends["seq2seq"]
    ids = b.encode(method_prompts("few_shot_cot") + method_prompts("zero_shot"))
    enc = b.engine._pad(ids, 0)
    assert len({len(x) for x in ids}) > 2  # rows of several lengths: real padding
    encoder = b.model.get_encoder()
    with torch.inference_mode():
        padded = encoder(**enc).last_hidden_state
        with encoder_rows(b.model):
            assert b.model.config._attn_implementation == "cotrepro_encoder_rows"
            rows = encoder(**enc).last_hidden_state
            assert encoder_attention._LENGTHS["last"][1] == [len(x) for x in ids]  # the row path ran
    assert b.model.config._attn_implementation == "sdpa"
    assert torch.allclose(rows, padded, atol=1e-5)
    mask = enc["attention_mask"].bool()[:, None, None, :].expand(-1, 1, 4, -1)
    assert right_padding_lengths(mask, 4) == [len(x) for x in ids]
    assert right_padding_lengths(mask.flip(-1), 4) is None  # left padding
    causal = mask & torch.ones(4, mask.shape[-1], dtype=torch.bool).tril()
    assert right_padding_lengths(causal, 4) is None  # queries see different keys
