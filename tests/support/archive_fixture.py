"""A small generation archive the project writes itself: two models, the first questions of the
generated coin-flip task (which the papers report, so published rows appear), all four methods,
with completions whose correctness follows a pattern (the larger model and the CoT methods right
more often), so every table has something to show."""

from __future__ import annotations

from pathlib import Path

from cotrepro import methods, prompts
from cotrepro.archive import pack
from cotrepro.data.exemplars import parse_project_set, project_set_path
from cotrepro.data.tasks import get_task
from cotrepro.data.tasks.prepare import prepare_records
from cotrepro.io import read_json, write_json, write_jsonl

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = 10
MODELS = {"model-small": 77_000_000, "model-large": 7_240_000_000}
RIGHT = {  # how many of the QUESTIONS each model answers right with each method
    ("model-small", "zero_shot"): 1,
    ("model-small", "zero_shot_cot"): 2,
    ("model-small", "few_shot"): 2,
    ("model-small", "few_shot_cot"): 1,
    ("model-large", "zero_shot"): 2,
    ("model-large", "zero_shot_cot"): 7,
    ("model-large", "few_shot"): 3,
    ("model-large", "few_shot_cot"): 9,
}
COMMIT = "c0ffee" + "0" * 34


def config(archive: Path) -> dict:
    """A workflow config that rebuilds everything from ``archive``."""
    return {
        "models": list(MODELS),
        "tasks": ["coin_flip"],
        "methods": list(methods.default_keys()),
        "limit": QUESTIONS,
        "from_archive": str(archive),
        "model_specs": {m: {"repo": f"example/{m}", "architecture": "causal"} for m in MODELS},
    }


def _completion(method: str, gold: str, right: bool) -> dict:
    answer = gold if right else {"yes": "no", "no": "yes"}[gold]
    state = "heads up" if answer == "yes" else "tails up"
    reasoning = f" We count the flips and check whether the number is even. So the coin is {state}."
    if method == "zero_shot":
        return {"completion": f" {answer}."}
    if method == "few_shot":
        return {"completion": f" The answer is {answer}."}
    if method == "few_shot_cot":
        return {"completion": f"{reasoning} The answer is {answer}."}
    return {"completion": reasoning, "stage2_completion": f" {answer}."}


EXEMPLARS = parse_project_set(project_set_path(REPO, "cotrepro-coin-flip").read_text())


def _row(record: dict, method: str, right: bool) -> dict:
    texts = _completion(method, record["answer"], right)
    prompt = prompts.build_prompt(
        methods.get(method), record["question"], answer_format=record["answer_format"], exemplars=EXEMPLARS
    )
    row = {
        "id": record["id"],
        "key": f"fixture-{record['id']}",
        "prompt": prompt,
        "completion": texts["completion"],
        "prompt_tokens": 40,
        "generated_tokens": 4 * len(texts["completion"].split()),
        "hit_max_new_tokens": False,
        "stop_reason": "eos",
        "over_context": False,
        "seconds": 0.05,
    }
    if "stage2_completion" in texts:
        row.update(
            {
                "stage2_prompt": prompts.zero_shot_cot_stage2(
                    prompt, texts["completion"], prompts.answer_trigger(record["answer_format"])
                ),
                "stage2_completion": texts["stage2_completion"],
                "stage2_prompt_tokens": 60,
                "stage2_generated_tokens": 3,
                "stage2_hit_max_new_tokens": False,
                "stage2_stop_reason": "eos",
                "stage2_over_context": False,
            }
        )
    return row


def _meta(model: str, method: str, rows: list[dict], provenance: dict) -> dict:
    example = {k: rows[0][k] for k in ("prompt", "stage2_prompt") if k in rows[0]}
    return {
        "model": {
            "slug": model,
            "repo": f"example/{model}",
            "source": "hub",
            "requested_revision": "main",
            "resolved_revision": COMMIT,
        },
        "task": {"key": "coin_flip", "records": len(rows), "limit": QUESTIONS, "provenance": provenance},
        "method": method,
        "prompt_format": "plain",
        "exemplars": {
            "name": "cotrepro-coin-flip",
            "origin": "project",
            "source": "cotrepro:config/exemplars",
            "sha256": "0" * 64,
            "shots": 8,
        }
        if method.startswith("few")
        else None,
        "max_new_tokens": {"reasoning": 256, "answer": 32},
        "on_overflow": "generate",
        "backend": {
            "architecture": "causal",
            "model_class": "LlamaForCausalLM",
            "parameters": MODELS[model],
            "dtype": "bfloat16",
            "device": "cuda:0",
            "device_name": "NVIDIA H200",
            "batch_size": 16,
            "final_batch_size": 16,
            "context_length": 4096,
            "chat_template": False,
            "add_special_tokens": True,
            "decoding": {"strategy": "greedy", "do_sample": False, "num_beams": 1, "stop": ["Q:"]},
            "versions": {"torch": "fixture", "transformers": "fixture", "cuda": "12.8"},
        },
        "stats": {
            "rows": len(rows),
            "resumed_rows": 0,
            "generated_rows": len(rows),
            "wall_seconds": 12.5,
            "generated_tokens": sum(r["generated_tokens"] for r in rows),
            "over_context_rows": 0,
            "fingerprint": "fixture",
        },
        "example": example,
        "started_at": "2026-11-28T00:00:00Z",
        "finished_at": "2026-11-28T00:00:12Z",
        "versions": {"cotrepro": "fixture"},
    }


def write_archive(root: Path) -> Path:
    """Write the fixture's workflow files under ``root`` and pack them; return the archive's path."""
    task = get_task("coin_flip")
    records = prepare_records(
        task,
        [REPO / p for p in task.dataset.local],
        params=dict(task.params),
        records_path=root / "results/tasks/coin_flip.jsonl",
        provenance_path=root / "results/tasks/coin_flip.provenance.json",
    )
    provenance = read_json(root / "results/tasks/coin_flip.provenance.json")
    files = [root / "results/tasks/coin_flip.jsonl", root / "results/tasks/coin_flip.provenance.json"]
    for model in MODELS:
        manifest = root / f"resources/models/{model}.json"
        write_json(
            manifest,
            {
                "model": model,
                "repo": f"example/{model}",
                "requested_revision": "main",
                "resolved_revision": COMMIT,
                "files": [],
            },
        )
        files.append(manifest)
        for method in methods.default_keys():
            right = RIGHT[model, method]
            rows = [_row(r, method, i < right) for i, r in enumerate(records[:QUESTIONS])]
            base = root / f"results/generations/{model}/coin_flip/{method}"
            write_jsonl(base.with_suffix(".jsonl"), rows)
            write_json(base.with_suffix(".meta.json"), _meta(model, method, rows, provenance))
            files += [base.with_suffix(".jsonl"), base.with_suffix(".meta.json")]
    pack(root / "archive.tar.gz", files, root)
    return root / "archive.tar.gz"
