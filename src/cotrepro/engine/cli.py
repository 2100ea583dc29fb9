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
from cotrepro.engine.memory_guard import GenerationOOM, memory_error_line
from cotrepro.engine.served.client import ServedError
from cotrepro.io import InputFileError, read_text, write_jsonl


class PromptFileError(ValueError):
    """A prompt file that cannot be generated from; the message names the line to fix."""


def read_prompts(path: Path) -> list[dict]:
    """The ``{"id", "prompt"}`` records of a JSON-lines file, checked before any model is loaded: each
    line UTF-8 JSON, each id a string or an integer and unique, each prompt a non-empty string."""
    try:
        text = read_text(path)
    except OSError as err:
        raise PromptFileError(f"--prompts {path}: cannot be read ({err.strerror or err})") from None
    except InputFileError as err:
        raise PromptFileError(str(err)) from None
    rows, seen = [], set()
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise PromptFileError(f"{path}, line {n}: not JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or "id" not in row:
            raise PromptFileError(f'{path}, line {n}: expected an object with "id" and a string "prompt"')
        # bool is an int to Python, but no one means true as an id.
        if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
            raise PromptFileError(f'{path}, line {n}: "id" must be a string or an integer, not {row["id"]!r}')
        if not row["prompt"]:
            raise PromptFileError(f'{path}, line {n}: "prompt" is empty; a model needs text to continue')
        if row["id"] in seen:
            raise PromptFileError(f"{path}, line {n}: id {row['id']!r} appears twice")
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise PromptFileError(f"{path} holds no prompts")
    return rows


def positive_int(value: str) -> int:
    """A positive integer (argparse type)."""
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")


def stop_sequence(value: str) -> str:
    """A non-empty stop sequence (argparse type): an empty one matches at once and would empty every
    completion."""
    if value:
        return value
    raise argparse.ArgumentTypeError("a stop sequence cannot be empty (it would end every completion at once)")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), pointing to ``--help``
    instead of printing the whole usage."""

    def error(self, message: str):
        """Print ``message`` as one line and exit with status 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def architecture_problem(model_dir: Path, architecture: str) -> str | None:
    """Why ``model_dir``'s config.json cannot be loaded as ``architecture`` (None when it can), read
    without loading the model: transformers' lists of causal and sequence-to-sequence model types."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{model_dir / 'config.json'} cannot be read as JSON ({err})"
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(model_type, str):
        return f'{model_dir / "config.json"} has no "model_type"; --model-dir must be a transformers model'
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    kinds = {"causal": MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, "seq2seq": MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES}
    if model_type in kinds[architecture]:
        return None
    fits = [kind for kind, names in kinds.items() if model_type in names]
    hint = f"pass --architecture {fits[0]}" if fits else "it is neither a causal nor a seq2seq language model"
    return f"{model_dir} holds a {model_type!r} model, which is not --architecture {architecture}; {hint}"


def batch_size(value: str) -> int | str:
    """``auto`` or a positive integer (argparse type)."""
    if value == "auto":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {value!r}")


def parser() -> argparse.ArgumentParser:
    """The command line: ``cotrepro generate ...``."""
    top = OneLineParser(prog="cotrepro", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="greedy completions of a prompt file with a local model")
    gen.add_argument("--model-dir", type=Path, help="a local transformers model (safetensors); served: optional")
    gen.add_argument("--architecture", choices=["causal", "seq2seq"], default=None, help="required unless served")
    gen.add_argument(
        "--backend",
        choices=BACKENDS,
        default="hf",
        help="hf: transformers (default); scratch: the from-scratch Llama (Llama-architecture models only); "
        "served: an OpenAI-compatible server (--base-url, --served-model)",
    )
    served = gen.add_argument_group("served backend")
    served.add_argument("--base-url", help="the server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1")
    served.add_argument("--served-model", help="the model name the server knows")
    served.add_argument("--api-key-env", help="the environment variable holding the API key (never printed)")
    served.add_argument(
        "--max-concurrency", type=positive_int, default=8, help="requests in flight at once (default 8)"
    )
    served.add_argument("--tokenizer", help="a Hub repo or directory for token counts (default: --model-dir's)")
    gen.add_argument("--prompts", type=Path, required=True, help='JSON lines {"id", "prompt"}')
    gen.add_argument("--out", type=Path, required=True, help="JSON lines written here, in input order")
    gen.add_argument("--max-new-tokens", type=positive_int, required=True, help="a positive integer")
    gen.add_argument("--batch-size", type=batch_size, default="auto", help="auto (default) or a number")
    gen.add_argument("--stop", type=stop_sequence, action="append", default=[], help="a stop sequence (repeatable)")
    gen.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    gen.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return top


def check_model_options(args: argparse.Namespace) -> None:
    """Refuse, before any model is loaded, options that name no model the backend can run (a
    PromptFileError naming the option)."""
    if args.backend == "served":
        if not (args.base_url and args.served_model):
            raise PromptFileError("--backend served needs --base-url and --served-model")
        return
    if args.model_dir is None or args.architecture is None:
        raise PromptFileError(f"--backend {args.backend} needs --model-dir and --architecture")
    if not (args.model_dir / "config.json").exists():
        raise PromptFileError(f"{args.model_dir} holds no config.json; --model-dir must be a local transformers model")
    problem = architecture_problem(args.model_dir, args.architecture)
    if problem:
        raise PromptFileError(problem)


def _backend(args: argparse.Namespace):
    """The backend the command line names (its options checked by :func:`check_model_options`)."""
    if args.backend == "served":
        served = {
            "base_url": args.base_url,
            "served_model": args.served_model,
            "api_key_env": args.api_key_env,
            "max_concurrency": args.max_concurrency,
            "tokenizer": args.tokenizer,
        }
        return load_backend(
            "served", args.model_dir, "causal", served=served, batch_size=args.batch_size, stop=args.stop
        )
    return load_backend(
        args.backend,
        args.model_dir,
        args.architecture,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        stop=args.stop,
    )


def generate(args: argparse.Namespace) -> dict:
    """Run the engine over the prompt file and write the completions; returns a short summary."""
    # Everything is checked before the model loads (minutes for a large one), the cheap checks first.
    rows = read_prompts(args.prompts)
    if args.out.exists() and not args.overwrite:
        raise PromptFileError(f"{args.out} exists; pass --overwrite to replace it or choose another --out")
    check_model_options(args)
    started = time.perf_counter()
    backend = _backend(args)
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
    except (PromptFileError, ServedError) as err:
        print(f"cotrepro generate: {err}", file=sys.stderr)
        return 2
    except GenerationOOM as err:
        print(f"cotrepro generate: {memory_error_line(err)}", file=sys.stderr)
        return 1
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
