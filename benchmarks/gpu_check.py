"""Prove the CUDA path of generation on one GPU and measure its throughput.

Run on a machine with a CUDA GPU (no network needed):

    PYTHONPATH=src python benchmarks/gpu_check.py --out gpu_check.json

It checks, on random-weight models built here:
1. device placement and dtype: ``device="auto"`` lands on cuda:0 in bfloat16;
2. batching: left-padded batched greedy decoding against one prompt at a time (fp32 must agree
   exactly; bf16 agreement is reported, since padding changes the kernels' summation order);
3. the two-stage runner end to end on CUDA for all four methods (the demo's problems);
4. out-of-memory back-off: with most of the GPU's memory taken, a large batch of long prompts on
   a ~1B-parameter model must hit a real CUDA out-of-memory error, halve its batch and finish;
5. throughput (generated tokens per second) of that model by batch size;
6. the engine against plain ``generate``: a random model with TinyLlama-1.1B's configuration in
   bf16, 256 GSM8K-length 8-shot CoT prompts (the CPU bench's ``make_prompts``: the project's
   prompt builder, ~1,000 tokens), 256 new tokens. Plain ``generate`` at batch 16 (dynamic
   cache, left padding) against the project's engine (shared prefix, static cache, compiled
   decode, ``batch_size: auto``) and against the engine without compilation and transformers'
   continuous batching (``generate_batch``), when they run: tokens per second, batch size, peak
   memory, and the fraction of the memory-bandwidth bound (each decode step reads the weights
   once and every row's KV cache).
``--smoke`` runs the same code on CPU with small sizes (for development without a GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from generation_bench import make_prompts  # the CPU bench's 8-shot CoT prompts (this script's folder)

from cotrepro import methods
from cotrepro.data.tasks import get_task
from cotrepro.engine.hf.backend import HFBackend
from cotrepro.generation import runner
from cotrepro.models.tiny import build_tiny_model, build_tokenizer

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    "Q: A bakery bakes 48 muffins and sells 30. How many are left?\nA: Let's think step by step.",
    "Q: Hi\nA:",
    "Q: A train travels at 80 km per hour for 3 hours and then at 60 km per hour for 2 hours. "
    "How many kilometers does it travel in total?\nA:",
    "Q: Tom has 7 apples.\nA: The answer (arabic numerals) is",
] * 4


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check_placement_and_batching(tiny: dict[str, Path], device: str) -> dict:
    out = {}
    for arch, path in tiny.items():
        b = HFBackend(path, arch, device="auto" if device == "cuda" else "cpu", batch_size=8, stop=())
        p = next(b.model.parameters())
        out[arch] = {"device": str(p.device), "dtype": str(p.dtype).removeprefix("torch.")}
        for dtype in ("float32", "bfloat16"):
            bb = HFBackend(path, arch, device=device, dtype=dtype, batch_size=8, stop=())
            batched = [c.text for c in bb.generate(PROMPTS, 16)]
            alone = [bb.generate([q], 16)[0].text for q in PROMPTS]
            out[arch][f"batched_equals_single_{dtype}"] = sum(
                x == y for x, y in zip(batched, alone, strict=True)
            ) / len(PROMPTS)
    return out


def check_runner(tiny: dict[str, Path], device: str, workdir: Path) -> dict:
    task = get_task("arith_demo")
    records = task.load({"arith_demo.jsonl": REPO / "config/datasets/arith_demo.jsonl"}, {})
    from cotrepro.data.exemplars import parse_project_set, project_set_path

    exemplars = parse_project_set(project_set_path(REPO, "cotrepro-arith").read_text())
    out = {}
    for arch, path in tiny.items():
        b = HFBackend(path, arch, device=device, batch_size=8)
        for method in methods.all_keys():
            t0 = time.perf_counter()
            rows, stats = runner.run_generation(
                b,
                records,
                method=method,
                exemplars=exemplars if method.startswith("few") else [],
                max_new_tokens={"reasoning": 64, "answer": 16},
                on_overflow="generate",
                out_path=workdir / arch / f"{method}.jsonl",
                fingerprint={"gpu_check": 1},
                progress_file=sys.stdout,
            )
            runner.finish(workdir / arch / f"{method}.jsonl", rows)
            ok = len(rows) == len(records) and len({r["id"] for r in rows}) == len(records)
            if method == "zero_shot_cot":
                ok = ok and all(
                    r["stage2_prompt"] == r["prompt"] + r["completion"] + " \n" + task.answer_trigger for r in rows
                )
            out[f"{arch}/{method}"] = {
                "rows": len(rows),
                "ok": ok,
                "seconds": round(time.perf_counter() - t0, 2),
                "generated_tokens": stats["generated_tokens"],
            }
        out[f"{arch}/describe"] = b.describe()
    return out


def random_llama(path: Path, device: str, shape: dict) -> Path:
    """A random-weight Llama of ``shape`` in bf16 with the demo's tokenizer, saved as safetensors. A
    shape with a larger vocabulary pads the tokenizer with extra tokens, so that every id the random
    model emits decodes."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer()
    tok.add_tokens([f"<x{i}>" for i in range(shape.get("vocab_size", len(tok)) - len(tok))])
    cfg = LlamaConfig(**{"vocab_size": len(tok), **shape}, pad_token_id=0, bos_token_id=3, eos_token_id=1)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    del model
    return path


def medium_shape(hidden: int, layers: int) -> dict:
    """A Llama shape of roughly ``12 * layers * hidden**2`` parameters."""
    heads = hidden // 128
    return dict(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=4096)  # fmt: skip


def long_prompts(n: int, words: int) -> list[str]:
    body = " ".join(f"step {i} adds {i % 7} apples;" for i in range(words // 4))
    return [f"Q: {body} question {k}?\nA:" for k in range(n)]


def check_oom_backoff(model: Path, device: str, free_gb: float, batch: int, prompt_words: int, new_tokens: int) -> dict:
    b = HFBackend(model, "causal", device=device, batch_size=batch, stop=())
    filler = None
    if device == "cuda":
        torch.cuda.empty_cache()
        free, total = torch.cuda.mem_get_info()
        take = int(free - free_gb * 2**30)
        filler = torch.empty(max(0, take), dtype=torch.uint8, device="cuda")  # plain allocation, not managed memory
        log(f"took {take / 2**30:.1f} GiB; {torch.cuda.mem_get_info()[0] / 2**30:.1f} GiB left of {total / 2**30:.0f}")
    prompts = long_prompts(batch * 2, prompt_words)
    t0 = time.perf_counter()
    out = b.generate(prompts, new_tokens)
    seconds = time.perf_counter() - t0
    result = {
        "initial_batch": batch,
        "final_batch": b.batch_size,
        "rows": len(out),
        "all_rows_generated": all(c.generated_tokens == new_tokens for c in out),
        "prompt_tokens": out[0].prompt_tokens,
        "seconds": round(seconds, 2),
    }
    del filler
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def throughput(
    model: Path, device: str, batches: list[int], batches_each: int, prompt_words: int, new_tokens: int
) -> list[dict]:
    rows = []
    for bs in batches:
        n = bs * batches_each
        prompts = long_prompts(n, prompt_words)
        b = HFBackend(model, "causal", device=device, batch_size=bs, stop=())
        b.generate(prompts[:bs], 4)  # warm-up: kernels, allocator
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = b.generate(prompts, new_tokens)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        tokens = sum(c.generated_tokens for c in out)
        rows.append(
            {
                "batch_size": bs,
                "prompts": n,
                "prompt_tokens": out[0].prompt_tokens,
                "new_tokens": new_tokens,
                "seconds": round(dt, 2),
                "generated_tokens_per_s": round(tokens / dt, 1),
                "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
            }
        )
        log(f"batch {bs}: {rows[-1]}")
        del b
    return rows


# TinyLlama-1.1B's config.json, and a much smaller one of the same kind for --smoke.
TINYLLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5,
                 rope_theta=10000.0, tie_word_embeddings=False)  # fmt: skip
SMOKE_SHAPE = dict(TINYLLAMA, vocab_size=4096, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2)  # fmt: skip


def bandwidth(device: str) -> float:
    """Bytes per second a device-to-device copy moves (read plus write), the practical bound."""
    if device != "cuda":
        return float("nan")
    x = torch.empty(2**31, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    y.copy_(x)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(5):
        y.copy_(x)
    torch.cuda.synchronize()
    return 5 * 2 * x.numel() / (time.perf_counter() - t0)


def engine_vs_plain(model_dir: Path, device: str, n_prompts: int, new_tokens: int) -> dict:
    """Throughput of plain ``generate`` at batch 16 against the project's engine variants, same
    model and prompts, in one process."""
    from transformers import GenerationConfig

    from cotrepro.engine.hf.engine import GREEDY

    texts = [row["prompt"] for row in make_prompts(n_prompts, None, None)[0]]
    base = HFBackend(model_dir, "causal", device=device, dtype="bfloat16", batch_size=16, stop=())
    ids = base.encode(texts)
    cfg = base.model.config
    weight_bytes = sum(p.numel() * p.element_size() for p in base.model.parameters())
    kv_per_token = (
        2 * cfg.num_hidden_layers * cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads) * 2
    )
    mean_context = sum(len(x) for x in ids) / len(ids) + new_tokens / 2
    bw = bandwidth(device)
    out = {
        "prompts": len(ids),
        "prompt_tokens": [min(map(len, ids)), max(map(len, ids))],
        "new_tokens": new_tokens,
        "parameters": base.parameters(),
        "device_copy_bytes_per_s": bw,
    }

    def measure(name: str, prepare) -> None:
        """Time ``prepare()()`` (set-up and warm-up untimed), or report why it did not run."""
        try:
            run = prepare()
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            tokens, batch = run()
        except Exception as err:  # noqa: BLE001 - a variant that does not run is reported, not fatal
            out[name] = {"error": f"{type(err).__name__}: {err}"[:500]}
            log(f"{name}: {out[name]['error']}")
            return
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        # Bound: per step the weights once plus each row's KV cache at the mean context. Continuous
        # batching has no fixed batch; its rate is compared with the plain and engine rates only.
        bound = batch * bw / (weight_bytes + batch * kv_per_token * mean_context) if batch else float("nan")
        out[name] = {
            "batch_size": batch,
            "seconds": round(dt, 2),
            "generated_tokens": tokens,
            "tokens_per_s": round(tokens / dt, 1),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
            "bandwidth_bound_tokens_per_s": round(bound, 1) if bound == bound else None,
            "fraction_of_bound": round(tokens / dt / bound, 3) if bound == bound else None,
        }
        log(f"{name}: {out[name]}")

    def plain():
        tok, model = base.tokenizer, base.model
        tok.padding_side = "left"

        def run():
            tokens = 0
            for i in range(0, len(texts), 16):
                enc = tok(texts[i : i + 16], padding=True, return_tensors="pt").to(model.device)
                with torch.inference_mode():
                    gen = model.generate(**enc, max_new_tokens=new_tokens, **GREEDY, pad_token_id=tok.pad_token_id)
                tokens += gen[:, enc["input_ids"].shape[1] :].numel()
            return tokens, 16

        return run

    def engine(compile_: bool):
        def prepare():
            b = HFBackend(
                model_dir, "causal", device=device, dtype="bfloat16", batch_size="auto", stop=("Q:",), compile=compile_
            )
            b.prepare(ids, new_tokens)  # shares the prefix, probes the batch size
            b.generate(ids[: b.batch_size], 4)  # warm-up: the compiled step's graphs, the allocator

            def run():
                done = b.generate(ids, new_tokens)
                out.setdefault("engine_detail", {})[f"compile={compile_}"] = b.engine.describe()
                return sum(c.generated_tokens for c in done), b.batch_size

            return run

        return prepare

    def continuous():
        gen = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, eos_token_id=1, pad_token_id=0)

        def run():
            results = base.model.generate_batch(inputs=ids, generation_config=gen)
            return sum(len(r.generated_tokens) for r in results.values()), None

        return run

    measure("plain_generate_batch16", plain)
    measure("engine", engine(True))
    measure("engine_no_compile", engine(False))
    measure("continuous_batching", continuous)
    plain_rate = out["plain_generate_batch16"].get("tokens_per_s")
    for name in ("engine", "engine_no_compile", "continuous_batching"):
        if plain_rate and "tokens_per_s" in out[name]:
            out[name]["speedup_vs_plain"] = round(out[name]["tokens_per_s"] / plain_rate, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on CPU, for development")
    args = ap.parse_args()
    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device; use --smoke to exercise the script on CPU")
    report: dict = {
        "torch": torch.__version__,
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
    }
    import transformers

    report["transformers"] = transformers.__version__
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tiny = {a: build_tiny_model(a, tmp / a) for a in ("seq2seq", "causal")}
        log("placement and batching")
        report["placement_batching"] = check_placement_and_batching(tiny, device)
        log("runner, four methods")
        report["runner"] = check_runner(tiny, device, tmp / "runs")
        hidden, layers = (256, 2) if args.smoke else (2048, 16)
        model = random_llama(tmp / "medium", device, medium_shape(hidden, layers))
        log("out-of-memory back-off")
        report["oom_backoff"] = (
            check_oom_backoff(model, device, 0, 8, 40, 8)
            if args.smoke
            else check_oom_backoff(model, device, free_gb=12, batch=256, prompt_words=800, new_tokens=64)
        )
        log("throughput")
        report["throughput"] = (
            throughput(model, device, [1, 4], 2, 40, 8)
            if args.smoke
            else throughput(model, device, [1, 16, 64, 128], 4, 200, 128)
        )
        log("engine against plain generate")
        report["engine_vs_plain"] = engine_vs_plain(
            random_llama(tmp / "tinyllama", device, SMOKE_SHAPE if args.smoke else TINYLLAMA),
            device,
            *((16, 16) if args.smoke else (256, 256)),
        )
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
