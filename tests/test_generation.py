"""Generation on real (tiny, random-weight) transformers models: batching, stops, context, resume."""

import json

import pytest
import torch

from cotrepro.data.tasks import get_task
from cotrepro.generation import runner
from cotrepro.generation.engine import GREEDY
from cotrepro.generation.hf import HFBackend
from cotrepro.io import read_jsonl

PROMPTS = [
    "Q: Ben has 3 apples and buys 4 more. How many apples does he have now?\nA:",
    "Q: Hi\nA:",
    "Q: A train goes 60 km per hour for 3 hours. How far does it go in total, in kilometers?\n"
    "A: Let's think step by step.",
]
TASK = get_task("arith_demo")
RECORDS = [
    {
        "id": f"r{i}",
        "question": f"Question number {i}: {i} + {i * 3} apples is how many?",
        "answer": str(4 * i),
        "answer_format": "number",
        "choices": None,
    }
    for i in range(7)
]


def backend(tiny_models, arch, **kw):
    kw.setdefault("device", "cpu")
    kw.setdefault("batch_size", 4)
    return HFBackend(tiny_models[arch], arch, **kw)


@pytest.mark.parametrize("arch", ["causal", "seq2seq"])
def test_batched_greedy_equals_one_at_a_time(tiny_models, arch):
    """Left padding (causal) and sorting by length must not change any row's greedy output."""
    b = backend(tiny_models, arch, stop=())
    batched = b.generate(PROMPTS, 12)
    alone = [b.generate([p], 12)[0] for p in PROMPTS]
    assert [c.text for c in batched] == [c.text for c in alone]
    assert [c.prompt_tokens for c in batched] == b.count_tokens(PROMPTS)
    assert all(c.generated_tokens == 12 and c.hit_max_new_tokens for c in batched)


def test_stop_sequence_cuts_completion_and_stops_early(tiny_models):
    b = backend(tiny_models, "causal", stop=())
    free = b.generate([PROMPTS[0]], 24)[0]
    # Pick a stop string the model really produces, a few tokens into its continuation.
    stop = free.text[len(free.text) // 3 : len(free.text) // 3 + 3]
    assert stop and stop in free.text
    cut = backend(tiny_models, "causal", stop=(stop,)).generate([PROMPTS[0]], 24)[0]
    assert cut.stop_reason == "stop_sequence"
    assert cut.text == free.text[: free.text.find(stop)]
    assert cut.generated_tokens < free.generated_tokens


def test_chat_template_wraps_prompt_and_is_recorded(tiny_models):
    b = backend(tiny_models, "causal", chat_template=True)
    assert b.format_prompt("Q: Hi\nA:") == "<|user|>\nQ: Hi\nA:</s>\n<|assistant|>\n"
    assert b.describe()["chat_template"] is True


def test_context_overflow_is_flagged_and_skip_policy_generates_nothing(tiny_models, tmp_path):
    b = backend(tiny_models, "seq2seq", max_context=20)
    common = dict(method="zero_shot", exemplars=[], max_new_tokens={"reasoning": 8, "answer": 4}, fingerprint={"t": 1})
    rows, stats = runner.run_generation(b, RECORDS, on_overflow="generate", out_path=tmp_path / "gen.jsonl", **common)
    assert all(r["over_context"] for r in rows) and stats["over_context_rows"] == len(RECORDS)
    assert all(r["generated_tokens"] > 0 for r in rows)
    rows, _ = runner.run_generation(b, RECORDS, on_overflow="skip", out_path=tmp_path / "skip.jsonl", **common)
    assert all(r["completion"] == "" and r["stop_reason"] == "skipped" and r["generated_tokens"] == 0 for r in rows)


class _Crash(Exception):
    pass


class _DiesAfter(HFBackend):
    """Dies (like a killed job) after a number of generate calls."""

    calls_left = 1

    def generate(self, inputs, max_new_tokens):
        if self.calls_left == 0:
            raise _Crash()
        self.calls_left -= 1
        return super().generate(inputs, max_new_tokens)


def run(b, out, method="zero_shot_cot", fingerprint=None):
    return runner.run_generation(
        b,
        RECORDS,
        method=method,
        exemplars=[],
        max_new_tokens={"reasoning": 10, "answer": 4},
        on_overflow="generate",
        out_path=out,
        fingerprint=fingerprint or {"v": 1},
    )


def plain_generate(b, texts, max_new_tokens):
    """Texts and prompt lengths the plain way: the tokenizer pads the batch, model.generate continues it."""
    b.tokenizer.padding_side = "left" if b.architecture == "causal" else "right"
    enc = b.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=b.add_special_tokens)
    with torch.inference_mode():
        out = b.model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            **GREEDY,
            pad_token_id=b.tokenizer.pad_token_id,
        )
    start = enc["input_ids"].shape[1] if b.architecture == "causal" else 1
    return (
        [b.tokenizer.decode(row, skip_special_tokens=True) for row in out[:, start:].tolist()],
        enc["attention_mask"].sum(dim=1).tolist(),
    )


@pytest.mark.parametrize("arch", ["causal", "seq2seq"])
def test_a_job_tokenizes_each_input_once_and_generates_as_the_plain_path(tiny_models, tmp_path, monkeypatch, arch):
    b = backend(tiny_models, arch, batch_size=3, stop=())
    tokenized = []
    real_call = type(b.tokenizer).__call__

    def spy(self, text, *args, **kwargs):
        tokenized.extend([text] if isinstance(text, str) else text)
        return real_call(self, text, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(type(b.tokenizer), "__call__", spy)
        rows, _ = run(b, tmp_path / "zero_shot_cot.jsonl")
    model_inputs = [r["prompt"] for r in rows] + [r["stage2_prompt"] for r in rows]
    assert len(set(model_inputs)) == 2 * len(RECORDS)
    assert sorted(tokenized) == sorted(model_inputs)  # each stage's input once, nothing else

    for stage, budget in (("", 10), ("stage2_", 4)):
        texts, lengths = plain_generate(b, [r[f"{stage}prompt"] for r in rows], budget)
        assert [r[f"{stage}completion"] for r in rows] == texts
        assert [r[f"{stage}prompt_tokens"] for r in rows] == lengths


def test_interrupted_run_resumes_without_loss_or_duplicates(tiny_models, tmp_path):
    out = tmp_path / "zero_shot_cot.jsonl"
    dying = _DiesAfter(tiny_models["causal"], "causal", device="cpu", batch_size=3)
    dying.calls_left = 2  # stage 1 and stage 2 of the first batch, then death
    with pytest.raises(_Crash):
        run(dying, out)
    journal = runner.journal_path(out)
    assert not out.exists()
    assert len(read_jsonl(journal)) == 3
    # A torn half-line from the kill is tolerated and dropped.
    with open(journal, "a") as fh:
        fh.write('{"id": "r9", "key": "trunc')

    rows, stats = run(backend(tiny_models, "causal", batch_size=3), out)
    runner.finish(out, rows)
    assert stats["resumed_rows"] == 3 and stats["generated_rows"] == 4
    saved = read_jsonl(out)
    assert [r["id"] for r in saved] == [r["id"] for r in RECORDS]
    assert not journal.exists()

    fresh, _ = run(backend(tiny_models, "causal", batch_size=3), tmp_path / "fresh.jsonl")

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(saved) == strip(fresh)
    first = saved[0]
    assert first["stage2_prompt"] == first["prompt"] + first["completion"] + "\n" + TASK.answer_trigger


def test_journal_from_other_settings_is_not_reused(tiny_models, tmp_path):
    out = tmp_path / "zero_shot.jsonl"
    dying = _DiesAfter(tiny_models["causal"], "causal", device="cpu", batch_size=3)
    with pytest.raises(_Crash):
        run(dying, out, method="zero_shot", fingerprint={"v": 1})
    _, stats = run(backend(tiny_models, "causal", batch_size=3), out, method="zero_shot", fingerprint={"v": 2})
    assert stats["resumed_rows"] == 0 and stats["generated_rows"] == len(RECORDS)


def test_tiny_models_are_deterministic(tiny_models, tmp_path):
    from cotrepro.models.tiny import build_tiny_model
    from cotrepro.provenance import file_entries

    again = build_tiny_model("causal", tmp_path / "again", seed=0)
    assert json.dumps(file_entries(again)) == json.dumps(file_entries(tiny_models["causal"]))
