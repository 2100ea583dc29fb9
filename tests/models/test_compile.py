"""The compiled decode step, forced on a CPU with torch.compile's ``eager`` backend (dynamo traces
and guards exactly as on a GPU; the graphs run as plain PyTorch): the engine records whether its
steps really ran compiled, and a recompile-limit hit that sends them back to eager shows."""

import pytest
import torch

from cotrepro import methods, prompts
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.hf.engine import Engine

QUESTIONS = [
    "Ben has 3 apples and buys 4 more. How many apples does he have now?",
    "Hi?",
    "A train goes 60 km per hour for 3 hours. How far does it go in total?",
    "Dev finds 12 coins, loses 5 and then finds 9 more coins. How many coins?",
    "Ema bakes 7 eggs.",
    "Gus collects 40 tickets on Monday and 25 on Tuesday. How many tickets?",
    "Hana sells 8 books.",
]
EXEMPLARS = [
    {
        "question": f"Ada has {i} pens and gets 2 more. How many?",
        "rationale": f"{i} + 2 = {i + 2}.",
        "answer": str(i + 2),
    }
    for i in range(3)
]
NEW = 10


@pytest.fixture(scope="module")
def llama(tiny_models):
    return HFBackend(tiny_models["causal"], "causal", device="cpu", batch_size=3)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Every test starts with nothing compiled (dynamo's caches are per process, per code object)."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def unit(b, method):
    return b.encode(
        [prompts.build_prompt(methods.get(method), q, answer_format="number", exemplars=EXEMPLARS) for q in QUESTIONS]
    )


def run(b, ids, **compile_args):
    engine = Engine(b.model, b.tokenizer, "causal", stop=("Q:",), batch_size=3, **compile_args)
    engine.prepare(ids, NEW)
    return engine, [(c.text, c.generated_tokens) for c in engine.generate(ids, NEW)]


@pytest.mark.parametrize("method", ["zero_shot", "few_shot_cot"])  # own cache only; the shared prefix too
def test_compiled_steps_are_measured_and_change_no_token(llama, method):
    ids = unit(llama, method)
    _, plain = run(llama, ids, compile=False)
    engine, compiled = run(llama, ids, compile_backend="eager")
    assert compiled == plain
    info = engine.describe()
    assert info["compiled"] is True
    c = info["compile"]
    assert c["requested"] and c["backend"] == "eager" and not c["limit_hit"]
    assert c["decode_steps"] == c["compiled_steps"] > 0 and c["eager_steps"] == 0
    # batches of 3, 3, then 1 row: the 1-row batch is a recompile (the batch size becomes dynamic)
    assert c["graphs_compiled"] >= 2 and c["recompiles"] >= 1


def test_a_recompile_limit_hit_is_recorded_and_compiled_turns_false(llama):
    """With room for one compiled entry, the 1-row last batch cannot be compiled: dynamo runs its
    steps eagerly, without an error; the description must say so."""
    ids = unit(llama, "zero_shot")
    _, plain = run(llama, ids, compile=False)
    with torch._dynamo.config.patch(recompile_limit=1):
        engine, got = run(llama, ids, compile_backend="eager")
    assert got == plain
    info = engine.describe()
    c = info["compile"]
    assert info["compiled"] is False
    assert c["limit_hit"] is True and c["recompile_limit"] == 8  # the patch is over; the record is not
    assert 0 < c["compiled_steps"] < c["decode_steps"]
    assert c["eager_steps"] == c["decode_steps"] - c["compiled_steps"] > 0


def test_nothing_compiles_on_a_cpu_unless_a_backend_is_named(llama):
    engine, _ = run(llama, unit(llama, "zero_shot")[:3])
    info = engine.describe()
    assert info["compiled"] is False and info["compile"]["requested"] is False
    assert info["compile"]["decode_steps"] == 0


def test_sampled_paths_run_compiled_and_equal_the_uncompiled_ones(llama):
    """Self-consistency decodes on the static cache with the compiled step, as greedy rows do; the
    paths are those of the uncompiled engine."""
    from cotrepro.engine.sampling import Sampling

    ids = unit(llama, "few_shot_cot")[:4]
    names = [f"q{i}" for i in range(len(ids))]
    sampling = Sampling(3, 0.7, 40, None, 0)
    paths = {}
    for name, args in (("plain", {"compile": False}), ("compiled", {"compile_backend": "eager"})):
        engine = Engine(llama.model, llama.tokenizer, "causal", stop=("Q:",), batch_size=6, **args)
        engine.prepare(ids, NEW)
        paths[name] = [[c.text for c in q] for q in engine.sample(ids, names, NEW, sampling)]
    assert paths["compiled"] == paths["plain"]
    assert any(len(set(p)) > 1 for p in paths["plain"])  # really sampled
    c = engine.describe()["compile"]
    assert engine.describe()["compiled"] and c["decode_steps"] == c["compiled_steps"] > 0
