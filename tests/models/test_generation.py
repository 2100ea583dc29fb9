"""Generation on real (tiny, random-weight) transformers models: batching, stops, context, resume."""

import json

import pytest
import torch
from task_fixtures import counting_records

from cotrepro.data.tasks import get_task
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.hf.engine import GREEDY
from cotrepro.generation import runner
from cotrepro.io import read_jsonl
from cotrepro.variants import prompt_settings

PROMPTS = [
    "Q: Ben has 3 apples and buys 4 more. How many apples does he have now?\nA:",
    "Q: Hi\nA:",
    "Q: A train goes 60 km per hour for 3 hours. How far does it go in total, in kilometers?\n"
    "A: Let's think step by step.",
]
TASK = get_task("arith_demo")
RECORDS = counting_records(7)


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
    # Self-consistency under the skip policy: every path of an over-context question is skipped, and
    # the answer step of zero-shot CoT still reads each (empty) path.
    from cotrepro.engine.sampling import Sampling

    sampled, stats = runner.run_generation(
        b,
        RECORDS,
        **(common | {"method": "zero_shot_cot_sc"}),
        on_overflow="skip",
        out_path=tmp_path / "sc.jsonl",
        sampling=Sampling(3, 0.7, 40, None, 0),
    )
    for row in sampled:
        assert row["over_context"] and len(row["paths"]) == 3, row
        assert row["prompt_tokens"] == b.count_tokens([row["prompt"]])[0] > 20
        for path in row["paths"]:
            assert (path["completion"], path["stop_reason"], path["generated_tokens"]) == ("", "skipped", 0)
            assert path["stage2_prompt"].startswith(row["prompt"] + " \nTherefore")
    assert stats["over_context_rows"] == len(RECORDS)


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
    assert stats["resumed_rows"] == 3 and stats["generated_rows"] == 4 and stats["reused_rows"] == 0
    saved = read_jsonl(out)
    assert [r["id"] for r in saved] == [r["id"] for r in RECORDS]
    assert journal.exists()  # kept until the whole job is done (drop_journal)
    runner.drop_journal(out)
    assert not journal.exists()

    fresh, _ = run(backend(tiny_models, "causal", batch_size=3), tmp_path / "fresh.jsonl")

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(saved) == strip(fresh)
    first = saved[0]
    assert first["stage2_prompt"] == first["prompt"] + first["completion"] + " \n" + TASK.answer_trigger


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


def test_a_rerun_reuses_the_finished_files_rows_and_generates_only_changed_ones(tiny_models, tmp_path):
    out = tmp_path / "zero_shot.jsonl"
    b = backend(tiny_models, "causal", batch_size=3)
    rows, _ = run(b, out, method="zero_shot")
    runner.finish(out, rows)
    runner.drop_journal(out)
    before = out.read_bytes()

    again, stats = run(b, out, method="zero_shot")
    assert stats["reused_rows"] == len(RECORDS) and stats["generated_rows"] == stats["resumed_rows"] == 0
    runner.finish(out, again)
    assert out.read_bytes() == before  # reused rows are written back byte for byte

    # One question's text changes: only its row is generated again.
    changed = [dict(r, question=r["question"] + " Count carefully.") if r["id"] == "r2" else r for r in RECORDS]
    rows, stats = runner.run_generation(
        b,
        changed,
        method="zero_shot",
        exemplars=[],
        max_new_tokens={"reasoning": 10, "answer": 4},
        on_overflow="generate",
        out_path=out,
        fingerprint={"v": 1},
    )
    assert stats["reused_rows"] == len(RECORDS) - 1 and stats["generated_rows"] == 1
    assert [r for r in rows if r["id"] != "r2"] == [r for r in again if r["id"] != "r2"]


class _SharesPrefix(HFBackend):
    """Records what the backend's prepare receives, then prepares."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shared: list[list[list[int]]] = []

    def prepare(self, inputs, max_new_tokens):
        self.shared.append([list(ids) for ids in inputs])
        super().prepare(inputs, max_new_tokens)


def test_prepare_gets_each_units_pending_first_stage_inputs_once(tiny_models, tmp_path):
    b = _SharesPrefix(tiny_models["causal"], "causal", device="cpu", batch_size=2)
    exemplars = [{"question": "What is 1 + 1?", "rationale": "One and one make two.", "answer": "2"}]
    out = tmp_path / "few_shot_cot.jsonl"

    def few_shot_cot():
        return runner.run_generation(
            b,
            RECORDS[:5],
            method="few_shot_cot",
            exemplars=exemplars,
            max_new_tokens={"reasoning": 4, "answer": 4},
            on_overflow="generate",
            out_path=out,
            fingerprint={"v": 1},
        )

    rows, _ = few_shot_cot()
    assert len(b.shared) == 1  # once, before the batches, not once a batch
    assert sorted(b.shared[0]) == sorted(b.encode([r["prompt"] for r in rows]))
    assert b.engine.describe()["shared_prefix_tokens"] > 10  # the exemplar, shared
    runner.finish(out, rows)
    _, stats = few_shot_cot()
    assert stats["generated_rows"] == 0 and len(b.shared) == 1  # nothing pending: not called


def _unit(tmp_path, task_records, method, **settings):
    from cotrepro.generation.job import GenerationUnit

    base = {
        "backend": "hf",
        "architecture": "causal",
        "chat_template": False,
        "max_context": None,
        "max_new_tokens": {"reasoning": 6, "answer": 4},
        "dtype": "float32",
        "device": "cpu",
        "on_overflow": "generate",
        "stop": ["Q:"],
        "limit": 3,
        "shots": 0,
        "method": {},
        "prompt": prompt_settings(None),
    }
    rows = tmp_path / "gen" / f"{method}.jsonl"
    return GenerationUnit(
        task="t",
        method=method,
        task_records=task_records,
        exemplars=None,
        settings=base | settings,
        rows_path=rows,
        meta_path=rows.with_suffix(".meta.json"),
    )


def _job(tmp_path, tiny_models, units):
    from cotrepro.generation.job import GenerationJob
    from cotrepro.io import write_json
    from cotrepro.models.tiny import tiny_manifest

    manifest = tmp_path / "manifest.json"
    write_json(manifest, tiny_manifest("tiny-llama", "causal", tiny_models["causal"], 0))
    return GenerationJob(model="tiny-llama", manifest=manifest, units=tuple(units), batch_size=2, threads=1)


def test_a_job_loads_the_model_once_and_keeps_journals_until_every_unit_is_written(tiny_models, tmp_path, monkeypatch):
    from cotrepro.engine.hf import backend as hf
    from cotrepro.generation import job
    from cotrepro.io import write_jsonl

    records = tmp_path / "t.jsonl"
    write_jsonl(records, RECORDS)
    units = [_unit(tmp_path, records, m) for m in ("zero_shot", "zero_shot_cot")]
    loads, dropped = [], []

    class Counted(HFBackend):
        def __init__(self, *args, **kwargs):
            loads.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(hf, "HFBackend", Counted)
    real_drop = runner.drop_journal

    def drop(out):  # every unit's files exist before any journal goes
        assert all(u.rows_path.exists() and u.meta_path.exists() for u in units)
        dropped.append(out)
        real_drop(out)

    monkeypatch.setattr(runner, "drop_journal", drop)
    metas = job.run_job(_job(tmp_path, tiny_models, units))
    assert len(loads) == 1 and [m["method"] for m in metas] == ["zero_shot", "zero_shot_cot"]
    assert metas[0]["model_load"] == metas[1]["model_load"] and metas[0]["model_load"]["count"] == 1
    assert metas[0]["job_units"] == ["t/zero_shot", "t/zero_shot_cot"]
    assert sorted(dropped) == sorted(u.rows_path for u in units)
    assert all(len(read_jsonl(u.rows_path)) == 3 for u in units)
    assert not any(runner.journal_path(u.rows_path).exists() for u in units)


def test_units_of_one_job_must_share_the_models_settings(tiny_models, tmp_path):
    from cotrepro.generation.job import run_job

    units = [_unit(tmp_path, tmp_path / "t.jsonl", "zero_shot"), _unit(tmp_path, tmp_path / "t.jsonl", "few_shot")]
    units[1] = _unit(tmp_path, tmp_path / "t.jsonl", "few_shot", stop=["###"])
    with pytest.raises(ValueError, match="units t/zero_shot and t/few_shot of one generation job differ in stop"):
        run_job(_job(tmp_path, tiny_models, units))
