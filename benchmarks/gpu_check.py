"""Prove the CUDA path of generation on one GPU and measure it, one stage at a time.

It needs torch and transformers only (no network, none of the workflow's other packages) and
builds its random-weight models itself:

    PYTHONPATH=src python benchmarks/gpu_check.py --quick --out gpu_check.json   # a few minutes
    PYTHONPATH=src python benchmarks/gpu_check.py --out gpu_check.json           # every stage
    PYTHONPATH=src python benchmarks/gpu_check.py --device cpu --smoke --out x.json  # small, on CPU

Each stage's result goes to ``--out`` as soon as the stage ends, written atomically (a reader sees
the previous whole file or the next), and ``running`` names the stage in flight: a run killed by
its timeout keeps what it measured. A stage that fails is recorded with its error and the next one
runs; the exit status is then 1. The stages, those of ``--quick`` marked *:

- environment*: versions, the device, the C compiler Triton needs for ``torch.compile``, and two
  measured rates: a device-to-device copy (bytes/s, read plus write) and a matrix product (FLOP/s);
- placement*: a random-weight model of TinyLlama-1.1B's configuration loaded as the workflow loads
  it (``load_backend``, ``device: auto``, ``dtype: auto``, ``batch_size: auto``): where its
  parameters are, their dtype, and the backend's description;
- batching: tiny models, left-padded batched greedy decoding against one prompt at a time (fp32
  must agree exactly; bf16 agreement is reported: padding changes the kernels' summation order);
- runner: the workflow's runner end to end on the tiny models, the greedy methods (``--methods``
  names others, self-consistency's included);
- oom_backoff*: a real CUDA out-of-memory error on purpose: most of the GPU's memory is taken so
  that a batch of long prompts does not fit; the engine must halve its batch and finish every row;
- plain_generate*: transformers' ``generate`` as a user calls it (dynamic cache, left padding, the
  same stop sequence) on 8-shot CoT prompts (the CPU bench's ``make_prompts``, ~1,000 tokens) at
  each candidate batch size on one batch, then over all prompts at the fastest;
- engine*: the project's engine on the same prompts (shared prefix, static cache), uncompiled,
  ``batch_size: auto`` (the probe's choice recorded; the full check also sweeps the candidates);
- engine_as_workflow: the backend's own engine, as a generation job runs it (``auto`` probed with
  the compiled step, compiled decoding on CUDA);
- engine_compiled*: the engine compiled, at the batch size the uncompiled probe chose (one shape,
  so one compile): what ran compiled is read from ``describe()`` and torch's own compile counters;
- fp32_agreement*: the same weights in fp32, 32 prompts, 64 steps, through plain ``generate`` and the
  engine: token-identical as the design promises, or not; with where completions part in fp32 and in
  bf16 (a rounding tie parts them late, a fault at once);
- continuous_batching: transformers' ``generate_batch``, when it runs;
- comparison*: the answers in one place: device, dtype, compiled or not, the auto batch size,
  tokens/s of each at its best batch size, the speedups, peak memory, bf16 agreement with plain
  ``generate``, the OOM back-off, and each run's fraction of its roofline bound.

The bound of a run: its prefill at the measured matrix-product rate, and each decode step at the
larger of its bytes (the weights once, a shared prefix's keys and values once, every row's own)
over the measured copy rate and its FLOPs over the matrix-product rate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from generation_bench import make_prompts  # the CPU bench's 8-shot CoT prompts (this script's folder)

from cotrepro import methods
from cotrepro.engine.completion import eos_token_ids, row_completion
from cotrepro.engine.hf.engine import GREEDY, Engine
from cotrepro.engine.loader import load_backend
from cotrepro.engine.sampling import Sampling
from cotrepro.io import atomic_write_text
from cotrepro.models.tiny import build_tiny_model, build_tokenizer

REPO = Path(__file__).resolve().parents[1]
STOP = ("Q:",)  # the workflow's stop sequence, for every generate here but the OOM and batching checks
# TinyLlama-1.1B's config.json, and a much smaller one of the same kind for --smoke.
TINYLLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5,
                 rope_theta=10000.0, tie_word_embeddings=False)  # fmt: skip
SMOKE_SHAPE = dict(TINYLLAMA, vocab_size=4096, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
# Self-consistency's settings when --methods asks for it: the workflow's, with 4 paths instead of 40.
SAMPLING = Sampling(paths=4, temperature=0.7, top_k=40, top_p=None, seed=0)
BATCHING_PROMPTS = [
    "Q: A bakery bakes 48 muffins and sells 30. How many are left?\nA: Let's think step by step.",
    "Q: Hi\nA:",
    "Q: A train travels at 80 km per hour for 3 hours and then at 60 km per hour for 2 hours. "
    "How many kilometers does it travel in total?\nA:",
    "Q: Tom has 7 apples.\nA: The answer (arabic numerals) is",
] * 4


@dataclass(frozen=True)
class Sizes:
    """How much work each stage does."""

    shape: dict  # the large model's Llama configuration
    prompts: int  # 8-shot CoT prompts for the engine against plain generate (a multiple of the batch sizes)
    new_tokens: int
    batch_sizes: tuple[int, ...]  # plain generate's candidates, and the engine's in the full check
    oom_rows: int  # the first batch of the OOM check: it must not fit, its quarter must
    oom_prompt_words: int
    oom_new_tokens: int
    runner_budget: dict = field(default_factory=lambda: {"reasoning": 64, "answer": 16})


SIZES = {
    "quick": Sizes(TINYLLAMA, 256, 128, (16, 64, 256), oom_rows=64, oom_prompt_words=800, oom_new_tokens=32),
    "full": Sizes(TINYLLAMA, 512, 256, (16, 64, 256), oom_rows=128, oom_prompt_words=800, oom_new_tokens=64),
    "smoke": Sizes(SMOKE_SHAPE, 16, 16, (4, 16), oom_rows=8, oom_prompt_words=40, oom_new_tokens=8),
}
QUICK = ("environment", "placement", "oom_backoff", "plain_generate", "engine", "engine_compiled", "fp32_agreement",
         "comparison")  # fmt: skip
FULL = ("environment", "placement", "batching", "runner", "oom_backoff", "plain_generate", "engine",
        "engine_as_workflow", "engine_compiled", "fp32_agreement", "continuous_batching", "comparison")  # fmt: skip
AGREEMENT_PROMPTS, AGREEMENT_TOKENS = 32, 64  # the fp32 agreement check: a batch of the prompts, fewer steps


def log(msg: str) -> None:
    """A timestamped progress line."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Context:
    """What the stages share: the settings, and the models, rates and results made once, on first use."""

    def __init__(self, device: str, sizes: Sizes, workdir: Path, method_keys: Sequence[str], quick: bool):
        self.device, self.sizes, self.workdir, self.method_keys = device, sizes, workdir, tuple(method_keys)
        self.quick = quick
        self.results: dict[str, dict] = {}
        self.texts: dict[str, list[str]] = {}  # each variant's completions, for the agreement figure

    @cached_property
    def dtype(self) -> torch.dtype:
        """What ``dtype: auto`` gives on this device: bf16 on CUDA, fp32 on CPU."""
        return torch.bfloat16 if self.device == "cuda" else torch.float32

    @cached_property
    def rates(self) -> dict:
        """The device's measured copy and matrix-product rates."""
        return {"copy_bytes_per_s": copy_rate(self.device), "matmul_flops_per_s": matmul_rate(self.device, self.dtype)}

    @cached_property
    def tiny(self) -> dict[str, Path]:
        """The demo's tiny seq2seq and causal models."""
        return {a: build_tiny_model(a, self.workdir / a) for a in ("seq2seq", "causal")}

    @cached_property
    def large_model_dir(self) -> Path:
        """The large random-weight model, saved once."""
        return random_llama(self.workdir / "large", self.device, self.sizes.shape)

    @cached_property
    def backend(self):
        """The large model loaded as a generation job loads it (``auto`` device, dtype, batch size)."""
        return load_backend(
            "hf", self.large_model_dir, "causal", device="auto" if self.device == "cuda" else "cpu", dtype="auto",
            batch_size="auto", stop=STOP,
        )  # fmt: skip

    @cached_property
    def prompt_ids(self) -> list[list[int]]:
        """The 8-shot CoT prompts, as the large model's token ids."""
        return self.backend.encode([row["prompt"] for row in make_prompts(self.sizes.prompts, None, None)[0]])

    @cached_property
    def cost(self) -> ModelCost:
        """What a token costs the large model."""
        return model_cost(self.backend.model)

    def engine(self, batch_size: int | str, compile: bool, stop: Sequence[str] = STOP) -> Engine:
        """A new engine on the loaded large model (no second load)."""
        b = self.backend
        return Engine(b.model, b.tokenizer, "causal", stop=stop, batch_size=batch_size, compile=compile)


# --- measuring ---------------------------------------------------------------------------------


def synchronize(device: str) -> None:
    """Wait for the device's queued work, so that a timer sees it finished."""
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    """Start a new peak-memory window."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float | None:
    """The most GPU memory tensors held since :func:`reset_peak` (None on CPU)."""
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


def timed(device: str, fn: Callable):
    """``fn()`` and the seconds it took, the device's queued work included."""
    synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - t0


def copy_rate(device: str) -> float:
    """Bytes per second a device-to-device copy moves (read plus write), the practical bandwidth."""
    x = torch.empty(2**31 if device == "cuda" else 2**27, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    _, seconds = timed(device, lambda: [y.copy_(x) for _ in range(5)])
    return 5 * 2 * x.numel() / seconds


def matmul_rate(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matrix product in ``dtype``, after warm-up."""
    n = 8192 if device == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    reps = 10 if device == "cuda" else 3
    _, seconds = timed(device, lambda: [a @ b for _ in range(reps)])
    return reps * 2 * n**3 / seconds


def compile_counters() -> dict[str, dict[str, int]]:
    """torch's own compile counters (frames compiled, graphs, recompiles, graph breaks...), a copy."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # a torch without dynamo compiles nothing
        return {}
    return {str(group): {str(k)[:200]: v for k, v in c.items()} for group, c in counters.items()}


def counters_since(before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """What :func:`compile_counters` gained since ``before``: the compiling a run did itself."""
    gained = {}
    for group, now in compile_counters().items():
        diff = {k: v - before.get(group, {}).get(k, 0) for k, v in now.items() if isinstance(v, int | float)}
        if diff := {k: v for k, v in diff.items() if v}:
            gained[group] = diff
    return gained


@dataclass(frozen=True)
class ModelCost:
    """What one token costs a causal model, from its weights and configuration."""

    layer_params: int  # the decoder layers' parameters: a prompt token's matrix products
    head_params: int  # the output head's, run once per row in prefill and per step in decoding
    weight_bytes: int  # what a decode step reads: every layer and the output head
    kv_bytes_per_token: int  # keys and values of one token, all layers
    attention_flops_per_pair: int  # FLOPs of one query attending one key, all layers (scores and values)


def model_cost(model) -> ModelCost:
    """:class:`ModelCost` of a loaded causal model (a tied head counted as the embedding)."""
    cfg = model.config
    embed, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters())  # shared tensors once
    tied = embed.data_ptr() == head.data_ptr()
    layer_params = total - embed.numel() - (0 if tied else head.numel())
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    size = embed.element_size()
    return ModelCost(
        layer_params=layer_params,
        head_params=head.numel(),
        weight_bytes=(layer_params + head.numel()) * size,
        kv_bytes_per_token=2 * cfg.num_hidden_layers * cfg.num_key_value_heads * head_dim * size,
        attention_flops_per_pair=4 * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim,
    )


def roofline(cost: ModelCost, batches: list[list[int]], shared: int, new_tokens: int, rates: dict) -> dict:
    """The fewest seconds a run could take: ``batches`` of rows (each row's prompt tokens), a
    ``shared`` prefix among them computed before the run, ``new_tokens`` decode steps a batch.
    Prefill at the matrix-product rate; each decode step at the larger of its bytes (weights once,
    the shared prefix's KV once, every row's own KV) over the copy rate and its FLOPs over the
    matrix-product rate."""
    flops_rate, copy = rates["matmul_flops_per_s"], rates["copy_bytes_per_s"]
    prefill_flops, decode_s = 0.0, 0.0
    for rows in batches:
        own = [n - shared for n in rows]
        # Each own token's matrix products, and its attention over the prefix and the row's earlier tokens.
        prefill_flops += sum(
            2 * cost.layer_params * o + 2 * cost.head_params + cost.attention_flops_per_pair * (shared * o + o * o / 2)
            for o in own
        )
        for step in range(new_tokens):
            context = [shared + o + step for o in own]
            step_bytes = cost.weight_bytes + cost.kv_bytes_per_token * (shared + sum(own) + len(rows) * step)
            step_flops = sum(
                2 * (cost.layer_params + cost.head_params) + cost.attention_flops_per_pair * c for c in context
            )
            decode_s += max(step_bytes / copy, step_flops / flops_rate)
    prefill_s = prefill_flops / flops_rate
    return {"prefill_s": round(prefill_s, 4), "decode_s": round(decode_s, 4), "bound_s": round(prefill_s + decode_s, 4)}


def in_batches(lengths: list[int], batch: int) -> list[list[int]]:
    """``lengths`` cut into consecutive batches of ``batch``."""
    return [lengths[i : i + batch] for i in range(0, len(lengths), batch)]


def rate_fields(
    ctx: Context, tokens: int, seconds: float, batches: list[list[int]], shared: int, new_tokens: int | None = None
) -> dict:
    """Tokens per second of a timed run, its bound (:func:`roofline`) and the fraction of it reached."""
    bound = roofline(ctx.cost, batches, shared, new_tokens or ctx.sizes.new_tokens, ctx.rates)
    return {
        "seconds": round(seconds, 3),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "roofline": bound,
        "fraction_of_bound": round(bound["bound_s"] / seconds, 3),
    }


# --- model building ------------------------------------------------------------------------------


def random_llama(path: Path, device: str, shape: dict) -> Path:
    """A random-weight Llama of ``shape`` with the demo's tokenizer, saved as safetensors (bf16 on
    CUDA, fp32 on CPU). A larger vocabulary pads the tokenizer with extra tokens, so that every id the
    random model emits decodes; most of them are such tokens, so the stop sequence is rare and most rows
    run their full budget."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer()
    tok.add_tokens([f"<x{i}>" for i in range(shape.get("vocab_size", len(tok)) - len(tok))])
    cfg = LlamaConfig(**{"vocab_size": len(tok), **shape}, pad_token_id=0, bos_token_id=3, eos_token_id=1)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def long_prompts(n: int, words: int) -> list[str]:
    """``n`` distinct prompts of about ``2 * words`` tokens each (the demo tokenizer): 800 words stay
    within TinyLlama's 2,048 positions."""
    body = " ".join(f"step {i} adds {i % 7} apples;" for i in range(words // 4))
    return [f"Q: question {k}: {body}?\nA:" for k in range(n)]


# --- the stages ----------------------------------------------------------------------------------


def stage_environment(ctx: Context) -> dict:
    """Versions, the device, the C compiler Triton builds its launcher with, the measured rates."""
    import platform

    import transformers

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "device": ctx.device,
        # Triton (torch.compile on CUDA) takes $CC, else gcc, else clang, to build its launcher.
        "c_compiler": os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang"),
        "environment": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")},
    }
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    if ctx.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        out |= {
            "gpu": props.name,
            "capability": f"{props.major}.{props.minor}",
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        }
    else:
        out["processor"] = platform.processor() or platform.machine()
    return out | ctx.rates


def stage_placement(ctx: Context) -> dict:
    """Where ``device: auto`` and ``dtype: auto`` put the large model, and what its backend says."""
    b = ctx.backend
    param = next(b.model.parameters())
    out = {
        "parameters_device": str(param.device),
        "parameters_dtype": str(param.dtype).removeprefix("torch."),
        "describe_before_generating": b.describe(),
    }
    out["ok"] = param.device.type == ctx.device and param.dtype == ctx.dtype
    return out


def stage_batching(ctx: Context) -> dict:
    """Batched against one-at-a-time greedy decoding on the tiny models, in fp32 and bf16 (uncompiled:
    a compiled step would recompile for every batch shape, which this check is not about)."""
    out = {}
    for arch, path in ctx.tiny.items():
        for dtype in ("float32", "bfloat16"):
            b = load_backend("hf", path, arch, device=ctx.device, dtype=dtype, batch_size=8, stop=(), compile=False)
            batched = [c.text for c in b.generate(BATCHING_PROMPTS, 16)]
            alone = [b.generate([q], 16)[0].text for q in BATCHING_PROMPTS]
            same = sum(x == y for x, y in zip(batched, alone, strict=True)) / len(BATCHING_PROMPTS)
            out[f"{arch}/batched_equals_single_{dtype}"] = same
    out["ok"] = all(v == 1.0 for k, v in out.items() if k.endswith("float32"))
    return out


def stage_runner(ctx: Context) -> dict:
    """The workflow's runner on the tiny models (compiled as a job compiles on CUDA), each method."""
    from cotrepro.data.exemplars import parse_project_set, project_set_path
    from cotrepro.data.tasks import get_task
    from cotrepro.generation import runner

    task = get_task("arith_demo")
    records = task.load({"arith_demo.jsonl": REPO / "config/datasets/arith_demo.jsonl"}, {})
    exemplars = parse_project_set(project_set_path(REPO, "cotrepro-arith").read_text())
    out = {}
    for arch, path in ctx.tiny.items():
        b = load_backend("hf", path, arch, device=ctx.device, batch_size=8)
        for method in ctx.method_keys:
            spec, rows_path = methods.get(method), ctx.workdir / "runs" / arch / f"{method}.jsonl"
            rows, stats = runner.run_generation(
                b, records, method=method, exemplars=exemplars if spec.few_shot else [],
                max_new_tokens=ctx.sizes.runner_budget, on_overflow="generate", out_path=rows_path,
                fingerprint={"gpu_check": 1}, progress_file=sys.stdout, sampling=SAMPLING if spec.samples else None,
            )  # fmt: skip
            runner.finish(rows_path, rows)
            out[f"{arch}/{method}"] = {"ok": runner_rows_ok(rows, records, spec, task), **stats}
        out[f"{arch}/describe"] = b.describe()
    out["ok"] = all(v["ok"] for k, v in out.items() if not k.endswith("/describe"))
    return out


def runner_rows_ok(rows: list[dict], records: list[dict], spec, task) -> bool:
    """One row per record, each id once; a sampled method's rows hold every path; zero-shot CoT's
    answer prompt continues its reasoning with the answer trigger."""
    ok = len(rows) == len(records) and len({r["id"] for r in rows}) == len(records)
    if spec.samples:
        return ok and all(len(r["paths"]) == SAMPLING.paths for r in rows)
    if spec.two_stage:
        ok = ok and all(r["stage2_prompt"] == r["prompt"] + r["completion"] + " \n" + task.answer_trigger for r in rows)
    return ok


def stage_oom_backoff(ctx: Context) -> dict:
    """A real out-of-memory error and the engine's back-off: with the GPU's free memory cut to what
    about 3/8 of the first batch needs (measured at two small batches), that batch and its half fail
    and the engine must finish every row at a smaller batch. On a CPU no memory is taken (there is
    no CUDA out-of-memory error to raise); the same rows run at the first batch size."""
    s, device = ctx.sizes, ctx.device
    ids = ctx.backend.encode(long_prompts(s.oom_rows, s.oom_prompt_words))
    per_row, fixed = row_memory(ctx, ids, s.oom_new_tokens)
    engine = ctx.engine(s.oom_rows, compile=False, stop=())  # no shared prefix: prepare() is not called
    filler, left = None, None
    if device == "cuda":
        torch.cuda.empty_cache()
        left = int(fixed + per_row * s.oom_rows * 3 / 8)
        # A plain allocation (cudaMalloc through torch), never managed memory.
        filler = torch.empty(max(0, torch.cuda.mem_get_info()[0] - left), dtype=torch.uint8, device="cuda")
    try:
        done, seconds = timed(device, lambda: engine.generate(ids, s.oom_new_tokens))
    finally:
        del filler
        if device == "cuda":
            torch.cuda.empty_cache()
    d = engine.describe()
    out = {
        "rows": len(done),
        "prompt_tokens": len(ids[0]),
        "measured_bytes_per_row": int(per_row),
        "free_bytes_left": left,
        "initial_batch": d["batch_size"],
        "final_batch": d["final_batch_size"],
        "halvings": int(math.log2(d["batch_size"] / d["final_batch_size"])),
        "generated_tokens": sum(c.generated_tokens for c in done),
        "seconds": round(seconds, 2),
    }
    out["oom_exercised"] = out["halvings"] > 0
    out["ok"] = len(done) == len(ids) and (out["oom_exercised"] or device != "cuda")
    if device != "cuda":
        out["note"] = "CPU: no CUDA memory to fill, so no out-of-memory error; the rows ran at the first batch size"
    return out


def row_memory(ctx: Context, ids: list[list[int]], new_tokens: int) -> tuple[float, float]:
    """Peak memory a batch of these rows takes beyond the weights: (bytes per row, fixed bytes),
    from two batches of 4 and 16 rows (0, 0 on CPU, where nothing is measured)."""
    if ctx.device != "cuda":
        return 0.0, 0.0
    peaks = {}
    for n in (4, 16):
        engine = ctx.engine(n, compile=False, stop=())
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        reset_peak("cuda")
        engine.generate(ids[:n], new_tokens)
        peaks[n] = torch.cuda.max_memory_allocated() - base
    per_row = (peaks[16] - peaks[4]) / 12
    return per_row, max(0.0, peaks[4] - 4 * per_row)


def stage_plain_generate(ctx: Context) -> dict:
    """transformers' ``generate`` as a user calls it: each candidate batch size on one batch, then
    all prompts at the fastest."""
    plain_run(ctx, ctx.prompt_ids[:1], 1, new_tokens=2)  # untimed warm-up: the stop-string tables, the kernels
    sweep = {}
    for batch in ctx.sizes.batch_sizes:
        sweep[batch] = plain_run(ctx, ctx.prompt_ids[:batch], batch)
        log(f"plain generate, one batch of {batch}: {sweep[batch]['tokens_per_s']} tokens/s")
    best = max(sweep, key=lambda b: sweep[b]["tokens_per_s"])
    result = plain_run(ctx, ctx.prompt_ids, best, keep_texts="plain_generate")
    return {"batch_size": best, **result, "by_batch_size": {str(b): r["tokens_per_s"] for b, r in sweep.items()}}


def plain_run(
    ctx: Context,
    ids: list[list[int]],
    batch: int,
    keep_texts: str | None = None,
    new_tokens: int | None = None,
    backend=None,
) -> dict:
    """Plain ``generate`` over ``ids`` in batches of ``batch`` (dynamic cache, left padding, the stop
    sequence checked by transformers), each row's tokens counted as the engine counts them; on
    ``backend`` (default the large model as the workflow loads it)."""
    b, new = backend or ctx.backend, new_tokens or ctx.sizes.new_tokens
    tok, model = b.tokenizer, b.model
    eos = eos_token_ids(model.generation_config.eos_token_id, tok.eos_token_id)

    def run() -> list:
        done = []
        for i in range(0, len(ids), batch):
            enc = tok.pad({"input_ids": ids[i : i + batch]}, padding=True, return_tensors="pt", padding_side="left")
            enc = enc.to(model.device)
            with torch.inference_mode():
                gen = model.generate(
                    **enc, max_new_tokens=new, **GREEDY, pad_token_id=tok.pad_token_id,
                    stop_strings=list(STOP), tokenizer=tok,
                )  # fmt: skip
            width = enc["input_ids"].shape[1]
            for row, prompt in zip(gen[:, width:].tolist(), ids[i : i + batch], strict=True):
                done.append(row_completion(row, len(prompt), new, b.decode, STOP, eos))
        return done

    reset_peak(ctx.device)
    done, seconds = timed(ctx.device, run)
    if keep_texts:
        ctx.texts[keep_texts] = [c.text for c in done]
    tokens = sum(c.generated_tokens for c in done)
    fields = rate_fields(ctx, tokens, seconds, in_batches([len(x) for x in ids], batch), shared=0, new_tokens=new)
    return {**fields, "peak_gib": peak_gib(ctx.device)}


def engine_run(ctx: Context, engine: Engine, name: str, ids: list[list[int]] | None = None) -> dict:
    """The engine on ``ids`` (all prompts by default) as a generation unit runs them: ``prepare``
    (shared prefix, the ``auto`` probe), a short warm-up at the first batch (the compiled step's
    graphs, the allocator), then the timed run. Reports what ran: ``describe()`` (its ``compiled``
    and, where the engine records it, ``compile``) and torch's compile counters over the three."""
    ids, new = ids or ctx.prompt_ids, ctx.sizes.new_tokens
    before = compile_counters()
    _, prepare_s = timed(ctx.device, lambda: engine.prepare(ids, new))
    _, warm_s = timed(ctx.device, lambda: engine.generate(ids[: engine.batch_size], 4))
    batch = engine.batch_size
    reset_peak(ctx.device)
    done, seconds = timed(ctx.device, lambda: engine.generate(ids, new))
    ctx.texts[name] = [c.text for c in done]
    described = engine.describe()
    shared = described["shared_prefix_tokens"]
    longest_first = sorted((len(x) for x in ids), reverse=True)  # the engine's order
    return {
        "batch_size": batch,
        "final_batch_size": engine.batch_size,
        "compiled": described["compiled"],
        "compile": described.get("compile"),
        "compile_counters": counters_since(before),
        "prepare_seconds": round(prepare_s, 2),
        "warmup_seconds": round(warm_s, 2),
        **rate_fields(ctx, sum(c.generated_tokens for c in done), seconds, in_batches(longest_first, batch), shared),
        "peak_gib": peak_gib(ctx.device),
        "describe": described,
    }


def stage_engine(ctx: Context) -> dict:
    """The engine uncompiled with ``batch_size: auto``; the full check also runs one batch of each
    candidate size, as plain generate does, and reports a faster one if there is one."""
    out = engine_run(ctx, ctx.engine("auto", compile=False), "engine")
    out["auto_batch_size"] = out["batch_size"]
    if not ctx.quick:
        sweep = {
            b: engine_run(ctx, ctx.engine(b, compile=False), f"engine_b{b}", ctx.prompt_ids[:b])
            for b in ctx.sizes.batch_sizes
        }
        out["by_batch_size"] = {str(b): r["tokens_per_s"] for b, r in sweep.items()}
        best = max(sweep.values(), key=lambda r: r["tokens_per_s"])
        if best["tokens_per_s"] > out["tokens_per_s"]:
            out["best_batch_size"], out["best_tokens_per_s"] = best["batch_size"], best["tokens_per_s"]
    return out


def stage_engine_as_workflow(ctx: Context) -> dict:
    """The backend's own engine, as a generation job runs it: ``auto`` probed with compiled decoding on CUDA."""
    return engine_run(ctx, ctx.backend.engine, "engine_as_workflow")


def stage_engine_compiled(ctx: Context) -> dict:
    """The engine compiled at the uncompiled probe's batch size (one shape: one compile)."""
    batch = ctx.results.get("engine", {}).get("auto_batch_size") or max(ctx.sizes.batch_sizes)
    out = engine_run(ctx, ctx.engine(batch, compile=True), "engine_compiled")
    out["batch_size_from"] = (
        "the engine stage's auto probe" if "auto_batch_size" in ctx.results.get("engine", {}) else "largest candidate"
    )
    return out


def stage_fp32_agreement(ctx: Context) -> dict:
    """Whether the engine's bf16 disagreement with plain ``generate`` is rounding or a fault: the same
    weights loaded in fp32, the first prompts at one batch through both, greedy. The design promises
    token-identical completions in fp32 (the CPU bench: 64/64); a random model's near-flat logits
    make bf16 rounding part them often, and where two completions part is reported for both dtypes
    (the characters they share before parting: a fault tends to part them at once)."""
    n, new = min(AGREEMENT_PROMPTS, len(ctx.prompt_ids)), min(AGREEMENT_TOKENS, ctx.sizes.new_tokens)
    ids = ctx.prompt_ids[:n]
    fp32_runs(ctx, ids, new)
    if ctx.device == "cuda":
        torch.cuda.empty_cache()  # the fp32 copy is gone with fp32_runs' frame
    out = {"prompts": n, "new_tokens": new, "fp32": parting(ctx.texts["engine_fp32"], ctx.texts["plain_fp32"])}
    if "engine" in ctx.texts and "plain_generate" in ctx.texts:
        out["bf16"] = parting(ctx.texts["engine"], ctx.texts["plain_generate"])
    out["ok"] = out["fp32"]["identical"] >= 0.95
    return out


def fp32_runs(ctx: Context, ids: list[list[int]], new: int) -> None:
    """Plain ``generate`` and the engine on the large model loaded again in fp32, at one batch; their
    texts kept as ``plain_fp32`` and ``engine_fp32``. The fp32 copy lives only in this call."""
    b = load_backend("hf", ctx.large_model_dir, "causal", device=ctx.device, dtype="float32", batch_size=len(ids),
                     stop=STOP, compile=False)  # fmt: skip
    plain_run(ctx, ids, len(ids), keep_texts="plain_fp32", new_tokens=new, backend=b)
    engine = Engine(b.model, b.tokenizer, "causal", stop=STOP, batch_size=len(ids), compile=False)
    engine.prepare(ids, new)
    ctx.texts["engine_fp32"] = [c.text for c in engine.generate(ids, new)]


def parting(ours: list[str], theirs: list[str]) -> dict:
    """How many of two runs' completions are identical, and for those that differ, the median number
    of characters they share before parting and the median length of plain's text."""
    pairs = list(zip(ours, theirs, strict=True))
    shared = sorted(len(os.path.commonprefix([x, y])) for x, y in pairs if x != y)
    lengths = sorted(len(y) for x, y in pairs if x != y)
    return {
        "identical": round(sum(x == y for x, y in pairs) / len(pairs), 3),
        "differing": len(shared),
        "median_shared_chars": shared[len(shared) // 2] if shared else None,
        "median_plain_chars": lengths[len(lengths) // 2] if lengths else None,
    }


def stage_continuous_batching(ctx: Context) -> dict:
    """transformers' continuous batching (``generate_batch``) on the same prompts: it has no stop
    sequences and no fixed batch, so only its rate is compared."""
    from transformers import GenerationConfig

    b = ctx.backend
    gen = GenerationConfig(max_new_tokens=ctx.sizes.new_tokens, do_sample=False, eos_token_id=1, pad_token_id=0)
    reset_peak(ctx.device)
    results, seconds = timed(
        ctx.device, lambda: b.model.generate_batch(inputs=ctx.prompt_ids, generation_config=gen, progress_bar=False)
    )
    tokens = sum(len(r.generated_tokens) for r in results.values())
    return {
        "seconds": round(seconds, 3),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_gib": peak_gib(ctx.device),
    }


def stage_comparison(ctx: Context) -> dict:
    """The first questions answered from the stages before, each at its best batch size."""
    r = ctx.results
    place = r.get("placement", {})
    plain = r.get("plain_generate", {})
    out = {
        "device": place.get("parameters_device"),
        "dtype": place.get("parameters_dtype"),
        "auto_batch_size": r.get("engine", {}).get("auto_batch_size"),
        "oom_backoff": {k: r.get("oom_backoff", {}).get(k) for k in ("oom_exercised", "initial_batch", "final_batch")},
        "plain_generate": {k: plain.get(k) for k in ("batch_size", "tokens_per_s", "peak_gib", "fraction_of_bound")},
        "fp32_identical_to_plain": r.get("fp32_agreement", {}).get("fp32", {}).get("identical"),
    }
    for name in ("engine", "engine_as_workflow", "engine_compiled", "continuous_batching"):
        if "tokens_per_s" not in r.get(name, {}):
            continue
        run = r[name]
        out[name] = {
            k: run.get(k)
            for k in ("batch_size", "compiled", "compile", "tokens_per_s", "peak_gib", "fraction_of_bound")
        }
        if plain.get("tokens_per_s"):
            out[name]["speedup_vs_plain"] = round(run["tokens_per_s"] / plain["tokens_per_s"], 2)
        if name in ctx.texts and "plain_generate" in ctx.texts:
            out[name]["identical_to_plain"] = parting(ctx.texts[name], ctx.texts["plain_generate"])["identical"]
    return out


STAGES: dict[str, Callable[[Context], dict]] = {
    "environment": stage_environment,
    "placement": stage_placement,
    "batching": stage_batching,
    "runner": stage_runner,
    "oom_backoff": stage_oom_backoff,
    "plain_generate": stage_plain_generate,
    "engine": stage_engine,
    "engine_as_workflow": stage_engine_as_workflow,
    "engine_compiled": stage_engine_compiled,
    "fp32_agreement": stage_fp32_agreement,
    "continuous_batching": stage_continuous_batching,
    "comparison": stage_comparison,
}


# --- running -------------------------------------------------------------------------------------


def write_report(path: Path, report: dict) -> None:
    """The report as it stands, atomically, stages in the order they ran."""
    atomic_write_text(path, json.dumps(report, indent=2, default=str) + "\n")


def run_stages(names: Sequence[str], ctx: Context, out: Path, settings: dict) -> dict:
    """Run the stages in order, writing the report after each (and, before each, which one is
    running); a stage that raises is recorded with its error, and the next one runs."""
    report = {"settings": settings, "running": None, "stages": {}}
    for name in names:
        report["running"] = name
        write_report(out, report)
        log(f"stage {name}")
        t0 = time.perf_counter()
        try:
            result = STAGES[name](ctx)
        except Exception as err:  # noqa: BLE001 - recorded; the later stages still measure what they can
            result = {"error": f"{type(err).__name__}: {err}"[:2000], "traceback": traceback.format_exc()[-6000:]}
            if ctx.device == "cuda":
                torch.cuda.empty_cache()
        result["stage_seconds"] = round(time.perf_counter() - t0, 2)
        ctx.results[name] = report["stages"][name] = result
        log(f"{name} ({result['stage_seconds']} s): {json.dumps(result, default=str)[:600]}")
    report["running"] = None
    write_report(out, report)
    return report


def method_list(text: str) -> tuple[str, ...]:
    """``--methods``: comma-separated method keys, each checked against the registry."""
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if not keys:
        raise argparse.ArgumentTypeError("no method named")
    for key in keys:
        try:
            methods.get(key)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return keys


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; one clear error for a combination that cannot run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the report, rewritten after each stage")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help=f"only the stages {', '.join(QUICK)} (minutes on a GPU)")
    ap.add_argument("--smoke", action="store_true", help="small sizes, for development (with --device cpu: minutes)")
    ap.add_argument("--methods", type=method_list, help="the runner stage's methods (default: the greedy ones)")
    args = ap.parse_args(argv)
    if args.quick and args.methods:
        ap.error("--methods sets the runner stage's methods, and --quick does not run that stage")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("torch sees no CUDA device; run with --device cpu --smoke to exercise this script on a CPU")
    if args.device == "cpu" and not args.smoke:
        ap.error("--device cpu needs --smoke: the GPU sizes would take hours on a CPU")
    args.methods = args.methods or tuple(k for k in methods.all_keys() if not methods.get(k).samples)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen stages; exit 1 when any of them failed."""
    args = parse_args(argv)
    if args.device == "cpu":
        # One thread: at --smoke sizes it is as fast, and on a shared machine a busy neighbour core
        # stalls every thread of a parallel region at its barrier (tens of times slower here).
        torch.set_num_threads(1)
    # A timeout's SIGTERM ends the run through the normal exit path, so the temporary models go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = QUICK if args.quick else FULL
    sizes = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    settings = {"argv": sys.argv[1:], "stages": list(names), "sizes": asdict(sizes)}
    settings["methods"] = list(args.methods) if "runner" in names else None
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        ctx = Context(args.device, sizes, Path(tmp), args.methods, quick=args.quick)
        report = run_stages(names, ctx, args.out, settings)
    failed = [name for name, result in report["stages"].items() if "error" in result]
    log(f"report in {args.out}; " + (f"failed: {', '.join(failed)}" if failed else "every stage ran"))
    print(json.dumps(report["stages"].get("comparison", {}), indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
