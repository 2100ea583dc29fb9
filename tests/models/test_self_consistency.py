"""Self-consistency: the vote, accuracy against the number of paths, and reproducible sampling on
tiny real models (the same paths whatever the batch size, after a rerun and after a resume)."""

import itertools
import json

import pytest

from cotrepro import methods
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.sampling import Sampling
from cotrepro.generation import runner
from cotrepro.io import read_jsonl
from cotrepro.scoring.score import score_rows
from cotrepro.scoring.self_consistency import (
    accuracy_by_paths,
    expected_vote_accuracy,
    majority_vote,
    path_counts,
)

RECORDS = [
    {
        "id": f"q{i}",
        "question": f"Ada has {i + 2} apples and buys {3 * i + 1} more. How many apples does she have?",
        "answer": str(4 * i + 3),
        "answer_format": "number",
        "choices": None,
    }
    for i in range(5)
]
EXEMPLARS = [
    {
        "question": f"Ben has {i} pens and gets {i + 1} more. How many pens?",
        "rationale": f"{i} + {i + 1}.",
        "answer": str(2 * i + 1),
    }
    for i in range(1, 4)
]
BUDGETS = {"reasoning": 16, "answer": 4}


def test_majority_vote_ignores_no_answers_and_breaks_ties_by_the_first_reached():
    assert majority_vote(["3", "", "5", "5", "3"]) == "3"  # 2-2 tie: "3" came first
    assert majority_vote(["", "7", "", "9", "9"]) == "9"
    assert majority_vote(["", "", ""]) == ""
    assert majority_vote(["", "4"]) == "4"


def test_path_counts_double_up_to_the_number_sampled():
    assert path_counts(40) == [1, 2, 4, 8, 16, 32, 40]
    assert path_counts(5) == [1, 2, 4, 5]
    assert path_counts(1) == [1]


def brute_force(answers, correct, size):
    """The vote's accuracy over every subset of ``size`` paths, kept in path order."""
    right = {a: c for a, c in zip(answers, correct, strict=True) if a}
    subsets = list(itertools.combinations(range(len(answers)), size))
    wins = sum(bool(v) and right[v] for v in (majority_vote([answers[i] for i in s]) for s in subsets))
    return wins / len(subsets)


CASES = [
    (["18", "", "18", "20", "20", "7"], [True, False, True, False, False, False]),
    (["a", "b", "b", "", "a", "c", "a"], [False, True, True, False, False, False, False]),
    (["", "", "5", "", "6"], [False, False, True, False, False]),
    (["1", "2", "3", "4"], [False, False, False, True]),
]


@pytest.mark.parametrize("answers,correct", CASES)
def test_expected_accuracy_at_k_equals_brute_force_enumeration(answers, correct):
    for size in range(1, len(answers) + 1):
        got, exact = expected_vote_accuracy(answers, correct, size)
        assert exact and got == pytest.approx(brute_force(answers, correct, size), abs=1e-12), size


def test_resampled_expected_accuracy_is_close_to_enumeration_and_seeded():
    answers = ["9", "", "9", "4", "4", "4", "9", "", "1", "9", "4", "2"]
    correct = [a == "9" for a in answers]
    truth = brute_force(answers, correct, 6)  # 924 subsets
    got, exact = expected_vote_accuracy(answers, correct, 6, resamples=500, seed=3)
    assert not exact and got == pytest.approx(truth, abs=0.06)
    assert expected_vote_accuracy(answers, correct, 6, resamples=500, seed=3)[0] == got


def test_the_curve_ends_at_the_vote_over_every_path():
    questions = [(f"q{i}", a, c) for i, (a, c) in enumerate(CASES)]
    k = min(len(a) for _, a, _ in questions)
    curve = accuracy_by_paths(questions)
    assert [p["paths"] for p in curve] == path_counts(k)
    full = sum(bool(majority_vote(a[:k])) and c[a.index(majority_vote(a[:k]))] for _, a, c in questions)
    assert curve[-1]["accuracy"] == pytest.approx(100 * full / len(questions))
    assert all(p["ci_low"] <= p["accuracy"] <= p["ci_high"] for p in curve)


@pytest.fixture(scope="module")
def llama(tiny_models):
    return HFBackend(tiny_models["causal"], "causal", device="cpu", batch_size=16)


def generate(b, out, method, sampling, exemplars=()):
    rows, stats = runner.run_generation(
        b,
        RECORDS,
        method=method,
        exemplars=list(exemplars),
        max_new_tokens=BUDGETS,
        on_overflow="generate",
        out_path=out,
        fingerprint={"v": 1, "sampling": None if sampling is None else sampling.describe()},
        sampling=sampling,
    )
    runner.finish(out, rows)
    return rows, stats


def paths_of(rows):
    """Every path's fields but its log-probability, which differs across batch layouts at about 1e-6
    (a resumed run batches differently): compared apart, within 1e-4, by :func:`logprobs_of`."""
    return [[{k: v for k, v in p.items() if k != "logprob"} for p in r["paths"]] for r in rows]


def logprobs_of(rows):
    return [p["logprob"] for r in rows for p in r["paths"]]


@pytest.mark.parametrize("arch", ["causal", "seq2seq"])
def test_sampled_paths_do_not_depend_on_batch_size(tiny_models, arch):
    ids = None
    got = {}
    for batch_size in (1, 3, 16):
        b = HFBackend(tiny_models[arch], arch, device="cpu", batch_size=batch_size)
        ids = b.encode([f"Q: {r['question']}\nA: Let's think step by step." for r in RECORDS[:3]])
        b.prepare(ids, 12)
        got[batch_size] = [
            [c.text for c in q] for q in b.sample(ids, ["q0", "q1", "q2"], 12, Sampling(4, 0.7, 40, None, 0))
        ]
    assert got[1] == got[3] == got[16]
    assert all(len(set(paths)) > 1 for paths in got[1])  # really sampled
    b = HFBackend(tiny_models[arch], arch, device="cpu", batch_size=16)
    other = [[c.text for c in q] for q in b.sample(ids, ["q0", "q1", "q2"], 12, Sampling(4, 0.7, 40, None, 1))]
    assert other != got[16]  # another seed, other paths


def test_sampling_decodes_on_the_static_cache(llama):
    """Every forward pass of a sampled batch, the one prefill of each question included, runs on the
    preallocated cache (so the decode step is the one greedy rows compile)."""
    caches = []
    ids = llama.encode([f"Q: {r['question']}\nA:" for r in RECORDS[:2]])
    llama.prepare(ids, 6)
    hook = llama.model.register_forward_pre_hook(
        lambda module, args, kwargs: caches.append(type(kwargs.get("past_key_values")).__name__), with_kwargs=True
    )
    try:
        llama.sample(ids, ["q0", "q1"], 6, Sampling(3, 0.7, 40, None, 0))
    finally:
        hook.remove()
    # the questions' own prefill fills a DynamicCache that is then copied into the static one
    assert caches[0] == "DynamicCache" and set(caches[1:]) == {"StaticCache"} and len(caches) > 2


def test_the_noise_is_one_batched_draw_per_step():
    """A step's noise for the whole batch is a fixed number of tensor operations, whatever the batch
    size: no generator, no draw per row."""
    import torch

    from cotrepro.engine.sampling import PathSampler

    def ops(rows):
        sampler = PathSampler(Sampling(4, 0.7, None, None, 0), list(range(rows)), torch.device("cpu"))
        scores, ids = torch.randn(rows, 1024), torch.zeros(rows, 5, dtype=torch.long)
        sampler(ids, scores)  # the first step
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            sampler(ids, scores)
        return len(prof.events())

    assert ops(2) == ops(64)


def test_a_rows_noise_depends_on_its_seed_step_and_index_alone():
    import torch

    from cotrepro.engine.sampling import path_keys, uniforms

    vocab = torch.arange(1024)
    keys = path_keys([11, 22, 33], "cpu")
    batch = uniforms(keys, 5, vocab)
    assert torch.equal(batch[1], uniforms(keys[1:2], 5, vocab)[0])  # the same alone as in a batch
    assert not torch.equal(batch[1], uniforms(keys[1:2], 6, vocab)[0])  # another step, other noise
    assert batch.min() > 0 and batch.max() < 1 and abs(batch.mean().item() - 0.5) < 0.02


def test_gumbel_noise_samples_the_warped_distribution():
    """The argmax of log-probabilities plus the noise is a sample of the distribution: over 6,000
    paths (seeds) the frequencies of a 4-token distribution are within 4 standard errors."""
    import torch

    from cotrepro.engine.sampling import PathSampler

    probs = torch.tensor([0.5, 0.25, 0.15, 0.1])
    n = 6000
    sampler = PathSampler(Sampling(1, 1.0, None, None, 0), range(n), torch.device("cpu"))
    chosen = sampler(torch.zeros(n, 3, dtype=torch.long), probs.log().expand(n, -1).clone()).argmax(-1)
    freq = torch.bincount(chosen, minlength=4).double() / n
    assert ((freq - probs).abs() <= 4 * (probs * (1 - probs) / n).sqrt()).all(), freq


def test_at_temperature_zero_every_path_is_the_greedy_one(llama):
    ids = llama.encode([f"Q: {r['question']}\nA:" for r in RECORDS[:3]])
    llama.prepare(ids, 8)
    greedy = [c.text for c in llama.generate(ids, 8)]
    paths = llama.sample(ids, ["q0", "q1", "q2"], 8, Sampling(3, 0, None, None, 0))
    assert [[c.text for c in p] for p in paths] == [[g] * 3 for g in greedy]


def test_one_greedy_path_equals_few_shot_cot_row_for_row(llama, tmp_path):
    greedy, _ = generate(llama, tmp_path / "few_shot_cot.jsonl", "few_shot_cot", None, EXEMPLARS)
    voted, _ = generate(
        llama, tmp_path / "few_shot_cot_sc.jsonl", "few_shot_cot_sc", Sampling(1, 0, 40, None, 0), EXEMPLARS
    )
    assert [r["prompt"] for r in voted] == [r["prompt"] for r in greedy]
    assert [r["paths"][0]["completion"] for r in voted] == [r["completion"] for r in greedy]
    scored_greedy = score_rows(greedy, RECORDS, "few_shot_cot")
    scored_voted = score_rows(voted, RECORDS, "few_shot_cot_sc")
    for a, b in zip(scored_greedy, scored_voted, strict=True):
        assert (a["pred_robust"], a["pred_kojima"]) == (b["pred_robust"], b["pred_kojima"])


def test_zero_shot_cot_sc_answers_each_path_greedily_and_rerun_is_byte_identical(llama, tmp_path):
    sampling = Sampling(3, 0.7, 40, None, 0)
    out = tmp_path / "zero_shot_cot_sc.jsonl"
    rows, stats = generate(llama, out, "zero_shot_cot_sc", sampling)
    assert stats["generated_rows"] == len(RECORDS)
    for r in rows:
        assert len(r["paths"]) == 3 and r["prompt"].endswith("A: Let's think step by step.")
        for p in r["paths"]:
            assert p["stage2_prompt"] == r["prompt"] + p["completion"] + " \nTherefore, the answer (arabic numerals) is"
    assert stats["generated_tokens"] == sum(
        p["generated_tokens"] + p["stage2_generated_tokens"] for r in rows for p in r["paths"]
    )
    first = out.read_bytes()
    out.unlink()
    generate(llama, out, "zero_shot_cot_sc", sampling)
    strip = [json.dumps({k: v for k, v in r.items() if k != "seconds"}) for r in read_jsonl(out)]
    assert strip == [
        json.dumps({k: v for k, v in r.items() if k != "seconds"}) for r in map(json.loads, first.decode().splitlines())
    ]


def test_a_resumed_sampling_run_gives_the_paths_of_an_uninterrupted_one(llama, tmp_path):
    sampling = Sampling(4, 0.7, 40, None, 0)
    whole, _ = generate(llama, tmp_path / "whole" / "few_shot_cot_sc.jsonl", "few_shot_cot_sc", sampling, EXEMPLARS)
    # A kill after two questions leaves their rows in the journal and no finished file.
    out = tmp_path / "killed" / "few_shot_cot_sc.jsonl"
    out.parent.mkdir()
    runner.journal_path(out).write_text("".join(json.dumps(r) + "\n" for r in whole[:2]) + '{"id": "q2", "ke')
    resumed, stats = generate(llama, out, "few_shot_cot_sc", sampling, EXEMPLARS)
    assert stats["resumed_rows"] == 2 and stats["generated_rows"] == 3
    assert paths_of(resumed) == paths_of(whole)
    assert logprobs_of(resumed) == pytest.approx(logprobs_of(whole), abs=1e-4)


def test_votes_recomputed_from_stored_path_answers_match_the_prediction(llama, tmp_path):
    rows, _ = generate(
        llama, tmp_path / "few_shot_cot_sc.jsonl", "few_shot_cot_sc", Sampling(5, 1.0, None, 0.95, 2), EXEMPLARS
    )
    for s in score_rows(rows, RECORDS, "few_shot_cot_sc"):
        for style in ("kojima", "robust"):
            assert len(s[f"paths_pred_{style}"]) == 5
            assert s[f"pred_{style}"] == majority_vote(s[f"paths_pred_{style}"])


def test_sampling_methods_are_declared_once_and_opt_in():
    assert methods.sampling_keys() == ("few_shot_cot_sc", "zero_shot_cot_sc")
    assert "few_shot_cot_sc" not in methods.default_keys()
    assert ("few_shot_cot", "few_shot_cot_sc") in methods.pairs()
    assert (
        methods.get("zero_shot_cot_sc").two_stage
        and methods.get("zero_shot_cot_sc").greedy_counterpart == "zero_shot_cot"
    )
