"""Batch-size invariance, measured on real tiny models: a batched generation job, the same unit's
seeded subset again at batch size 1, and the comparison and counts of the workflow's check."""

import pytest
from transformers import AutoTokenizer

from cotrepro import methods
from cotrepro.checks.batch_invariance import compare_rows, first_difference, measure, question_subset
from cotrepro.checks.batch_invariance_summary import COLUMNS, summarize, table
from cotrepro.generation.job import GenerationJob, GenerationUnit, run_job
from cotrepro.io import read_json, read_jsonl, write_json, write_jsonl
from cotrepro.models.tiny import tiny_manifest
from cotrepro.variants import prompt_settings

RECORDS = [
    {
        "id": f"q{i}",
        "question": f"Ann has {i} apples and buys {2 * i + 1} more. How many apples does she have now?",
        "answer": str(3 * i + 1),
        "answer_format": "number",
        "choices": None,
    }
    for i in range(9)
]
EXEMPLARS = {
    "name": "test-set",
    "origin": "project",
    "source": "tests",
    "sha256": "0" * 64,
    "exemplars": [
        {"question": "What is 1 + 1?", "rationale": "One and one make two.", "answer": "2"},
        {"question": "What is 2 + 3?", "rationale": "Two and three make five.", "answer": "5"},
    ],
}
METHOD = "few_shot_cot"


def _settings(arch):
    return {
        "backend": "hf",
        "architecture": arch,
        "chat_template": False,
        "max_context": None,
        "max_new_tokens": {"reasoning": 16, "answer": 4},
        "dtype": "float32",
        "device": "cpu",
        "on_overflow": "generate",
        "stop": ["Q:"],
        "limit": None,
        "shots": 2,
        "method": methods.get(METHOD).shaping(),
        "sampling": None,
        "prompt": prompt_settings(None),
    }


@pytest.fixture(scope="module", params=["causal", "seq2seq"])
def batched(request, tiny_models, tmp_path_factory):
    """A real generation job of one few-shot CoT unit at batch size 4, as rule generate runs it."""
    arch, root = request.param, tmp_path_factory.mktemp(f"batched-{request.param}")
    write_jsonl(root / "t.jsonl", RECORDS)
    write_json(root / "exemplars.json", EXEMPLARS)
    write_json(root / "manifest.json", tiny_manifest(f"tiny-{arch}", arch, tiny_models[arch], 0))
    unit = GenerationUnit(
        task="t",
        method=METHOD,
        task_records=root / "t.jsonl",
        exemplars=root / "exemplars.json",
        settings=_settings(arch),
        rows_path=root / "gen" / f"{METHOD}.jsonl",
        meta_path=root / "gen" / f"{METHOD}.meta.json",
    )
    run_job(
        GenerationJob(model=f"tiny-{arch}", manifest=root / "manifest.json", units=(unit,), batch_size=4, threads=1)
    )
    return {
        "arch": arch,
        "root": root,
        "manifest": read_json(root / "manifest.json"),
        "rows": read_jsonl(unit.rows_path),
        "meta": read_json(unit.meta_path),
        "tokenizer": AutoTokenizer.from_pretrained(tiny_models[arch]),
    }


def _batch_one(batched, questions=5, seed=0):
    return measure(
        batched["manifest"],
        RECORDS,
        batched["rows"],
        method=METHOD,
        exemplars=EXEMPLARS["exemplars"],
        settings=_settings(batched["arch"]),
        questions=questions,
        seed=seed,
        out_path=batched["root"] / "batch1" / f"{seed}-{questions}.jsonl",
    )


def test_the_subset_is_seeded_stable_nested_and_in_task_order():
    five = question_subset(RECORDS, 5, seed=0)
    assert five == question_subset(RECORDS, 5, seed=0) and len(five) == 5
    assert [r["id"] for r in five] == [r["id"] for r in RECORDS if r in five]  # task order
    assert {r["id"] for r in five} < {r["id"] for r in question_subset(RECORDS, 7, seed=0)}
    assert [r["id"] for r in five] != [r["id"] for r in question_subset(RECORDS, 5, seed=1)]
    assert question_subset(RECORDS, 50, seed=3) == RECORDS
    # A record's choice does not depend on the others: dropping an unchosen one keeps the subset.
    unchosen = next(r for r in RECORDS if r not in five)
    assert question_subset([r for r in RECORDS if r is not unchosen], 5, seed=0) == five


def test_one_question_at_a_time_gives_the_batched_run_s_tokens(batched):
    """The engine's claim, measured: on CPU float32, the tiny models' completions at batch size 1
    are those of the batched run (left padding, shared exemplar prefix, batches of 4)."""
    rows = _batch_one(batched)
    assert [r["id"] for r in rows] == [r["id"] for r in question_subset(RECORDS, 5, seed=0)]
    by_id = {r["id"]: r for r in batched["rows"]}
    assert all(r["key"] == by_id[r["id"]]["key"] for r in rows)  # same inputs and settings
    # Not trivial: the batched rows were padded (prompts of several lengths); the tiny Llama's texts
    # differ between questions (the tiny T5 repeats one word whatever the question).
    assert len({r["prompt_tokens"] for r in rows}) > 1
    assert batched["arch"] == "seq2seq" or len({r["completion"] for r in rows}) > 1
    assert [r["batch_invariance"]["differing_fields"] for r in rows] == [[]] * 5
    summary = summarize("m", "t", METHOD, rows, batched["rows"], RECORDS, batched["meta"])
    assert summary["differing_completions"] == 0 and summary["flipped"] == {"kojima": 0, "robust": 0}
    assert summary["batch_size"] == 4 and summary["items"] == []


def test_a_different_batched_row_is_counted_as_differing_and_flipped(batched):
    """Driving the real comparison: one batched completion changed so that its answer changes."""
    rows = _batch_one(batched)
    target = rows[2]
    tampered = [
        {**r, "completion": r["completion"] + " The answer is 12345."} if r["id"] == target["id"] else r
        for r in batched["rows"]
    ]

    def encode(text):
        return batched["tokenizer"](text, add_special_tokens=False)["input_ids"]

    compared = compare_rows([{k: v for k, v in r.items() if k != "batch_invariance"} for r in rows], tampered, encode)
    summary = summarize("m", "t", METHOD, compared, tampered, RECORDS, batched["meta"])
    assert summary["differing_completions"] == 1 and summary["flipped"] == {"kojima": 1, "robust": 1}
    (item,) = summary["items"]
    assert item["id"] == target["id"] and item["differing_stage"] == "completion"
    assert item["flipped"]["robust"][1] == "12345" and item["flipped"]["robust"][0] != "12345"
    own = encode(target["completion"])
    assert item["first_differing_token"] == first_difference(
        own, encode(target["completion"] + " The answer is 12345.")
    )
    assert 0 <= item["first_differing_token"] <= len(own)
    frame = table([summary])
    assert list(frame.columns) == COLUMNS
    assert frame.iloc[0][["differing_completions", "flipped_kojima", "flipped_robust"]].tolist() == [1, 1, 1]


def test_rows_of_other_settings_are_refused(batched):
    rows = _batch_one(batched)
    other = [{**r, "key": "0" * 64} for r in batched["rows"]]

    with pytest.raises(ValueError, match="inputs or settings differ"):
        compare_rows([{k: v for k, v in r.items() if k != "batch_invariance"} for r in rows], other, len)


def test_first_difference():
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 5, 3]) == 1
    assert first_difference([1, 2], [1, 2, 3]) == 2
    assert first_difference([], [7]) == 0
