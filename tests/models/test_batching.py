"""The batch sizer every backend shares: out-of-memory errors in each form CUDA raises them are
retried at half the size (any other error propagates), the failed batch's memory is freed before the
retry, shorter rows grow the batch back, and the ``auto`` probe sizes the caches at the real budget.
The out-of-memory errors are raised by the batch runners here, as a too-small GPU would raise them."""

import weakref

import pytest
import torch

from cotrepro.engine.batching import BatchSizer, GenerationOOM, is_out_of_memory
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.hf.engine import Engine

CPU = torch.device("cpu")
OOM_FORMS = [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
    RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    torch.AcceleratorError("CUDA error: out of memory"),
]


def _capture_failure_caused_by_oom() -> RuntimeError:
    """A CUDA-graph capture that failed because an allocation inside it did: the capture's own error
    carries the out-of-memory error as its context."""
    try:
        try:
            raise torch.OutOfMemoryError("CUDA out of memory (during graph capture)")
        except torch.OutOfMemoryError:
            raise RuntimeError("CUDA error: operation failed due to a previous error during capture")  # noqa: B904
    except RuntimeError as err:
        return err


@pytest.mark.parametrize("err", [*OOM_FORMS, _capture_failure_caused_by_oom()], ids=lambda e: str(e)[:40])
def test_every_form_of_cuda_out_of_memory_is_recognised(err):
    assert is_out_of_memory(err)


@pytest.mark.parametrize(
    "err",
    [RuntimeError("CUDA error: device-side assert triggered"), ValueError("out of memory"), KeyError("x")],
    ids=str,
)
def test_other_errors_are_not_out_of_memory(err):
    assert not is_out_of_memory(err)


def oom_above(limit: int, err: BaseException, calls: list):
    """A batch runner that fails with ``err`` above ``limit`` rows and records each batch's size."""

    def run(chunk):
        calls.append(len(chunk))
        if len(chunk) > limit:
            raise err
        return [x * 10 for x in chunk]

    return run


@pytest.mark.parametrize("err", OOM_FORMS, ids=lambda e: type(e).__name__ + ":" + str(e)[:30])
def test_each_out_of_memory_form_halves_and_retries_the_batch(err):
    calls = []
    sizer = BatchSizer(8)
    assert sizer.batches(list(range(10)), oom_above(2, err, calls), CPU) == [x * 10 for x in range(10)]
    assert calls[:3] == [8, 4, 2] and set(calls[3:]) <= {2}
    assert sizer.describe()["final_batch_size"] == 2 and sizer.describe()["out_of_memory_retries"] == 2


def test_an_error_that_is_not_out_of_memory_propagates():
    calls = []
    with pytest.raises(RuntimeError, match="device-side assert"):
        BatchSizer(8).batches(list(range(10)), oom_above(2, RuntimeError("CUDA error: device-side assert"), calls), CPU)
    assert calls == [8]  # not retried


def test_out_of_memory_at_batch_size_one_is_the_device_too_small():
    with pytest.raises(GenerationOOM, match="batch size 1"):
        BatchSizer(4).batches([1, 2, 3], oom_above(0, torch.OutOfMemoryError("CUDA out of memory"), []), CPU)


def test_the_failed_batch_is_freed_before_the_retry():
    """transformers' frames hold the failed batch's tensors in reference cycles; the retry must not
    start while they are alive (on a GPU: before the cached blocks are returned)."""
    held = []

    def run(chunk):
        if held:
            assert held[0]() is None, "the failed batch's tensor is still alive at the retry"
            return list(chunk)
        activations = torch.empty(1 << 20)
        cycle = {"tensor": activations}
        cycle["self"] = cycle  # freed only by the garbage collector
        held.append(weakref.ref(activations))
        del activations
        raise torch.OutOfMemoryError("CUDA out of memory")

    assert BatchSizer(4).batches([1, 2, 3, 4], run, CPU) == [1, 2, 3, 4]


def test_after_a_halving_shorter_rows_grow_the_batch_back():
    """Rows need cache memory in proportion to their tokens, and the device here holds 400 row-tokens:
    the longest rows (200 tokens) fail at 8 and 4 rows and run at 2; after them, rows of 100 tokens
    run at 4 and rows of 50 at 8 again, the size the job started at."""
    lengths = [100] * 8 + [50] * 16 + [200] * 4
    sizes = []

    def run_batch(inputs, max_new_tokens):
        rows = len(inputs) * max(len(x) for x in inputs)
        sizes.append(len(inputs))
        if rows > 400:  # the device holds 400 row-tokens
            raise torch.OutOfMemoryError("CUDA out of memory")
        return [len(x) for x in inputs]

    sizer = BatchSizer(8)
    inputs = [[1] * n for n in lengths]
    out = sizer.longest_first(inputs, 0, run_batch, CPU)
    assert out == lengths
    assert sizes == [8, 4, 2, 2, 4, 4, 8, 8]
    assert sizer.describe() == {
        "batch_size_setting": 8,
        "batch_size": 8,
        "final_batch_size": 8,
        "out_of_memory_retries": 2,
    }


def test_sampled_rows_stay_grouped_by_question_after_a_halving():
    calls = []
    items = [(q, j) for q in range(3) for j in range(4)]
    done = BatchSizer(8).batches(items, oom_above(4, torch.OutOfMemoryError("CUDA out of memory"), calls), CPU, align=4)
    assert done == [x * 10 for x in items] and calls == [8, 4, 4, 4]


@pytest.fixture(scope="module")
def t5(tiny_models):
    return HFBackend(tiny_models["seq2seq"], "seq2seq", device="cpu", batch_size=2)


def test_the_auto_probe_sizes_a_seq2seq_decoder_cache_for_the_whole_budget(t5):
    """The probe generates two tokens but must allocate what the real batches will: Flan-T5's
    decoder cache for every new token, not for the probe's two."""
    engine = Engine(t5.model, t5.tokenizer, "seq2seq", batch_size="auto")
    seen = []

    def record(module, args, kwargs):
        cache = kwargs.get("past_key_values")
        if cache is not None:
            seen.append((cache.self_attention_cache.layers[0].max_cache_len, cache.cross_attention_cache))

    hook = t5.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        longest = t5.encode(["Q: Ada has 3 apples and buys 4 more. How many apples?\nA:"])[0]
        engine.probe_batch_size(longest, 48)
    finally:
        hook.remove()
    assert seen and {length for length, _ in seen} == {48}


@pytest.mark.parametrize("err", [OOM_FORMS[1], OOM_FORMS[2]], ids=["driver", "cublas"])
def test_the_probe_stops_at_an_out_of_memory_runtime_error(t5, err):
    class OOMAbove(Engine):
        def _generate_batch(self, inputs, max_new_tokens, *args, **kwargs):
            if len(inputs) > 4:
                raise err
            return super()._generate_batch(inputs, max_new_tokens, *args, **kwargs)

    engine = OOMAbove(t5.model, t5.tokenizer, "seq2seq", batch_size="auto")
    assert engine.probe_batch_size(t5.encode(["Q: Hi\nA:"])[0], 4) == 4
