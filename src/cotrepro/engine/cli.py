"""``cotrepro generate``: the workflow's generation engine on any prompt file.

Input lines are ``{"id", "prompt"}`` with the exact text the model sees; output lines are
``{"id", "completion", "prompt_tokens", "generated_tokens", "stop_reason"}`` in input order. The
longest token prefix common to the whole file is computed once and shared by every row, as the
workflow does for a few-shot unit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cotrepro.engine.loader import BACKENDS, load_backend
from cotrepro.io import write_jsonl


class PromptFileError(ValueError):
    """A prompt file that cannot be generated from; the message names the line to fix."""


def read_prompts(path: Path) -> list[dict]:
    """The ``{"id", "prompt"}`` records of a JSON-lines file, checked before any model is loaded."""
    rows, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise PromptFileError(f"{path}, line {n}: not JSON ({err.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or "id" not in row:
                raise PromptFileError(f'{path}, line {n}: expected an object with "id" and a string "prompt"')
            if row["id"] in seen:
                raise PromptFileError(f"{path}, line {n}: id {row['id']!r} appears twice")
            seen.add(row["id"])
            rows.append(row)
    if not rows:
        raise PromptFileError(f"{path} holds no prompts")
    return rows


def batch_size(value: str) -> int | str:
    """``auto`` or a positive integer (argparse type)."""
    if value == "auto":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {value!r}")


def parser() -> argparse.ArgumentParser:
    """The command line: ``cotrepro generate ...``."""
    top = argparse.ArgumentParser(prog="cotrepro", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="greedy completions of a prompt file with a local model")
    gen.add_argument("--model-dir", type=Path, required=True, help="a local transformers model (safetensors)")
    gen.add_argument("--architecture", choices=["causal", "seq2seq"], required=True)
    gen.add_argument(
        "--backend",
        choices=BACKENDS,
        default="hf",
        help="hf: transformers (default); scratch: the from-scratch Llama (Llama-architecture models only)",
    )
    gen.add_argument("--prompts", type=Path, required=True, help='JSON lines {"id", "prompt"}')
    gen.add_argument("--out", type=Path, required=True, help="JSON lines written here, in input order")
    gen.add_argument("--max-new-tokens", type=int, required=True)
    gen.add_argument("--batch-size", type=batch_size, default="auto", help="auto (default) or a number")
    gen.add_argument("--stop", action="append", default=[], help="a stop sequence (repeatable)")
    gen.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    gen.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return top


def generate(args: argparse.Namespace) -> dict:
    """Run the engine over the prompt file and write the completions; returns a short summary."""
    rows = read_prompts(args.prompts)
    if args.out.exists() and not args.overwrite:
        raise PromptFileError(f"{args.out} exists; pass --overwrite to replace it or choose another --out")
    if not (args.model_dir / "config.json").exists():
        raise PromptFileError(f"{args.model_dir} holds no config.json; --model-dir must be a local transformers model")
    started = time.perf_counter()
    backend = load_backend(
        args.backend,
        args.model_dir,
        args.architecture,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        stop=args.stop,
    )
    loaded = time.perf_counter()
    ids = backend.encode([r["prompt"] for r in rows])
    backend.prepare(ids, args.max_new_tokens)
    completions = backend.generate(ids, args.max_new_tokens)
    write_jsonl(
        args.out,
        (
            {
                "id": r["id"],
                "completion": c.text,
                "prompt_tokens": c.prompt_tokens,
                "generated_tokens": c.generated_tokens,
                "stop_reason": c.stop_reason,
            }
            for r, c in zip(rows, completions, strict=True)
        ),
    )
    engine = backend.describe()
    return {
        "rows": len(rows),
        "generated_tokens": sum(c.generated_tokens for c in completions),
        "load_seconds": round(loaded - started, 2),
        "generate_seconds": round(time.perf_counter() - loaded, 2),
        "batch_size": engine["batch_size"],
        "shared_prefix_tokens": engine["shared_prefix_tokens"],
        "cache": engine["cache"],
        "backend": args.backend,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cotrepro`` console script."""
    args = parser().parse_args(argv)
    try:
        summary = generate(args)
    except PromptFileError as err:
        print(f"cotrepro generate: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
