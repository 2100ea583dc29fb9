"""The CPU memory guard on a real tiny model: with the memory available set small
(COTREPRO_CPU_MEMORY_BYTES), a batch that would not fit is split before it runs and the completions
are the unguarded run's; a single prompt that would not fit stops with the guard's one line."""

import json

import pytest

from cotrepro.engine.batching import BatchSizer, GenerationOOM
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.memory_guard import CPU_MEMORY_ENV, HEADROOM, cpu_memory_estimate, guard_message
from cotrepro.engine.memory_guard import install_cpu_memory_guard as install

PROMPTS = [f"Q: Ada has {n} apples and buys {n + 3} more. How many apples does she have?\nA:" for n in range(4)]
BUDGET = 12


@pytest.fixture
def guarded(tiny_models, monkeypatch):
    """The tiny causal model's config estimate, with the guard installed for this test only."""
    monkeypatch.setattr(BatchSizer, "batches", BatchSizer.batches)  # undone after the test
    estimate = cpu_memory_estimate(json.loads((tiny_models["causal"] / "config.json").read_text()))
    install(estimate)
    return estimate


def generate(tiny_models, batch_size=4):
    backend = HFBackend(tiny_models["causal"], "causal", device="cpu", batch_size=batch_size)
    ids = backend.encode(PROMPTS)
    return backend, backend.generate(ids, BUDGET), max(len(i) for i in ids) + BUDGET


def test_a_batch_that_would_not_fit_is_split_and_generates_the_same(tiny_models, guarded, monkeypatch):
    _, plain, tokens = generate(tiny_models)  # no limit set: the machine's memory, plenty
    # Room for one row of the longest prompt, not for two.
    room = int(guarded(1, tokens) * 1.5 / (1 - HEADROOM))
    assert guarded(2, tokens) > room * (1 - HEADROOM)
    monkeypatch.setenv(CPU_MEMORY_ENV, str(room))
    backend, split, _ = generate(tiny_models)
    assert [c.text for c in split] == [c.text for c in plain]
    described = backend.describe()
    assert described["out_of_memory_retries"] >= 2 and described["final_batch_size"] == 1


def test_a_prompt_that_would_not_fit_alone_stops_with_one_line(tiny_models, guarded, monkeypatch):
    monkeypatch.setenv(CPU_MEMORY_ENV, "1000")
    with pytest.raises(GenerationOOM) as caught:
        generate(tiny_models)
    line = guard_message(caught.value)
    assert line.startswith("CPU memory guard: 1 row(s) of ") and "\n" not in line
    assert f"{CPU_MEMORY_ENV} sets the figure" in line


def test_the_estimate_grows_with_the_square_of_the_length(guarded):
    # A 60 KB question (some 15,000 tokens) is what OOM-killed a CPU job: the scores term dominates.
    assert guarded(1, 16_000) > 3.5 * guarded(1, 8_000)
    assert guarded(4, 100) == 4 * guarded(1, 100)
