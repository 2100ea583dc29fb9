"""A generated results set shaped as the default config's run (6 models, 13 tasks, the four
methods, self-consistency with 40 paths on some tasks): accuracy.csv and accuracy_vs_paths.csv
frames with plausible accuracies, so that the figures are tested on a run of full size, not on
the demo's zeros. Made by code and seeded; nothing of it is committed data."""

from __future__ import annotations

import numpy as np
import pandas as pd

MODELS = {
    "flan-t5-small": 77e6,
    "flan-t5-base": 248e6,
    "flan-t5-large": 783e6,
    "tinyllama-1.1b-chat": 1.1e9,
    "phi-2": 2.78e9,
    "zephyr-7b-beta": 7.24e9,
}
TASKS = [
    "gsm8k", "svamp", "multiarith", "addsub", "singleeq", "aqua", "csqa",
    "strategyqa", "date", "sports", "shuffled_objects", "coin_flip", "last_letters",
]  # fmt: skip
METHODS = ["zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot"]
SC_TASKS = ["gsm8k", "svamp", "aqua", "last_letters"]
SC_METHODS = {"few_shot_cot_sc": "few_shot_cot", "zero_shot_cot_sc": "zero_shot_cot"}
PATHS = [1, 2, 4, 8, 16, 32, 40]
TOKENS = {"zero_shot": 12, "zero_shot_cot": 140, "few_shot": 10, "few_shot_cot": 110}


def _wilson(k: int, n: int) -> tuple[float, float]:
    p, z = k / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def _row(model, task, method, style, n, acc, tokens, rng) -> dict:
    k = int(round(acc / 100 * n))
    low, high = _wilson(k, n)
    return {
        "model": model, "parameters": MODELS[model], "revision": "0" * 12, "task": task, "method": method,
        "style": style, "n": n, "correct": k, "accuracy": 100 * k / n, "ci_low": low, "ci_high": high,
        "mean_generated_tokens": tokens, "frac_hit_max_new_tokens": float(rng.uniform(0, 0.1)),
        "frac_no_answer": float(rng.uniform(0, 0.2)), "frac_over_context": 0.0,
    }  # fmt: skip


def full_size_results(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accuracy, paths): accuracy rising with log model size, CoT helping the larger models."""
    rng = np.random.default_rng(seed)
    rows, curves = [], []
    for model, size in MODELS.items():
        scale = (np.log10(size) - 7.8) / 2.2  # 0 for the smallest model, 1 for the largest
        for task in TASKS:
            n, base = 250, rng.uniform(10, 40)
            for method in METHODS + list(SC_METHODS):
                if method in SC_METHODS and task not in SC_TASKS:
                    continue
                cot = "cot" in method
                acc = base + 35 * scale * (1.4 if cot else 1.0) + rng.normal(0, 3) + (6 if "sc" in method else 0)
                acc = float(np.clip(acc, 1, 97))
                tokens = TOKENS[SC_METHODS.get(method, method)] * (PATHS[-1] if method in SC_METHODS else 1)
                for style in ("robust", "kojima"):
                    rows.append(_row(model, task, method, style, n, acc - (0 if style == "robust" else 4), tokens, rng))
                if method in SC_METHODS:
                    for p in PATHS:
                        a = acc - 8 / p
                        low, high = _wilson(int(a / 100 * n), n)
                        curves.append({
                            "model": model, "task": task, "method": method, "style": "robust", "paths": p, "n": n,
                            "accuracy": a, "ci_low": low, "ci_high": high, "exact": p in (1, 40),
                            "mean_generated_tokens": TOKENS[SC_METHODS[method]] * p,
                        })  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(curves)


KIND = (
    {t: "arithmetic" for t in TASKS[:6]} | {t: "commonsense" for t in TASKS[6:11]} | {t: "symbolic" for t in TASKS[11:]}
)
SAMPLING = {"paths": PATHS[-1], "seed": 0, "temperature": 0.7, "top_k": 40, "top_p": None}


def _prompt(task: str, method: str) -> str:
    """A prompt of the shape the method sends (8 worked exemplars for few-shot), in the project's own words."""
    question = (
        f"Q: In the {task} set, item {{i}} has {{i}} boxes of 12 pens and gives away 5 pens. How many are left?\n"
    )
    exemplars = "" if not method.startswith("few_shot") else "".join(
        question.format(i=i) + ("A: There are 12 x {i} pens; 5 leave. " if "cot" in method else "A: ").format(i=i)
        + f"The answer is {12 * i - 5}.\n\n"
        for i in range(2, 10)
    )  # fmt: skip
    trigger = "A: Let's think step by step." if method.startswith("zero_shot_cot") else "A:"
    return exemplars + question.format(i=11) + trigger


def _meta(model: str, task: str, method: str) -> dict:
    """Generation metadata of one unit, with the fields the report and the paper read."""
    example = {"prompt": _prompt(task, method)}
    if method.startswith("zero_shot_cot"):
        example["stage2_prompt"] = example["prompt"] + " 12 x 11 = 132; 132 - 5 = 127.\nTherefore, the answer is"
    return {
        "method": method, "variant": None, "prompt_format": "plain", "on_overflow": "generate",
        "model": {"slug": model, "repo": f"example/{model}", "source": "hub", "requested_revision": "main",
                  "resolved_revision": "0123456789abcdef" * 2 + "01234567"},
        "task": {"key": task, "records": 250},
        "backend": {"parameters": int(MODELS[model]), "engine": "transformers.generate", "dtype": "bfloat16",
                    "device_name": "NVIDIA H100 80GB HBM3", "batch_size_setting": "auto", "batch_size": 64,
                    "final_batch_size": 64, "context_length": 2048,
                    "decoding": {"strategy": "greedy", "do_sample": False, "num_beams": 1, "stop": ["Q:"]}},
        "sampling": SAMPLING if method in SC_METHODS else None,
        "max_new_tokens": {"answer": 32, "reasoning": 256},
        "stats": {"row_seconds": 60.0 * (PATHS[-1] if method in SC_METHODS else 1), "wall_seconds": 60.0},
        "example": example, "exemplars": None, "versions": {"torch": "2.13.0", "transformers": "5.23.0"},
    }  # fmt: skip


def full_size_outputs(seed: int = 0):
    """A whole run's outputs (cotrepro.outputs.loader.RunOutputs) of the full-size shape: the
    accuracy and paths frames above, every chooser's (selection), per-unit metadata, task provenance,
    paired tests and transcripts, for building the report and the paper."""
    import pathlib

    from cotrepro.outputs.loader import RunOutputs

    acc, curves = full_size_results(seed)
    acc, selection = full_size_selection(acc, curves)
    units = acc.drop_duplicates(["model", "task", "method"])
    metas = [_meta(r.model, r.task, r.method) for r in units.itertuples()]
    provenance = [
        {"task": t, "kind": KIND[t], "answer_format": "number" if KIND[t] == "arithmetic" else "text",
         "records": 250, "params": {},
         "files": [{"name": f"{t}.jsonl", "source": f"example.org/datasets/{t}/test.jsonl", "sha256": "0" * 64}]}
        for t in TASKS
    ]  # fmt: skip
    sig = []
    for (model, task, style), grp in acc.groupby(["model", "task", "style"]):
        by = grp.set_index("method")
        for a, b in (("zero_shot", "zero_shot_cot"), ("few_shot", "few_shot_cot")):
            ca, cb = int(by.loc[a, "correct"]), int(by.loc[b, "correct"])
            sig.append({"model": model, "task": task, "style": style, "method_a": a, "method_b": b, "n": 250,
                        "correct_a": ca, "correct_b": cb, "only_a": 10, "only_b": 10 + max(0, cb - ca),
                        "p_value": 0.01 if cb - ca > 12 else 0.4, "significant": cb - ca > 12})  # fmt: skip
    transcripts = [
        {"model": m, "task": "gsm8k", "method": "few_shot_cot", "id": f"gsm8k-{i}", "correct": right,
         "question": "A shop has 11 boxes of 12 pens and sells 5 pens. How many pens are left?",
         "completion": " 11 x 12 = 132 pens; 132 - 5 = 127. The answer is " + ("127." if right else "137."),
         "stage2_completion": None, "prediction": "127" if right else "137", "gold": "127"}
        for m in MODELS for i, right in enumerate((True, False))
    ]  # fmt: skip
    repo = pathlib.Path(__file__).resolve().parents[2]
    return RunOutputs(
        accuracy=acc,
        published=pd.read_csv(repo / "config/published.csv"),
        metas=metas,
        significance=pd.DataFrame(sig),
        tasks=provenance,
        transcripts=transcripts,
        paths=curves,
        selection=selection,
    )


SELECTION_STRATEGIES = {
    "majority": 0.0,
    "weighted_avg_unnormalized": -9.0,
    "weighted_avg_normalized": -20.0,
    "weighted_sum_unnormalized": -4.0,
    "weighted_sum_normalized": 0.5,
    "best_of_n": 2.0,
    "weighted_best_of_n": 3.0,
    "coverage": 15.0,
}
"""Offsets (points) from the majority vote of each chooser in the full-size selection frame."""


def full_size_selection(accuracy: pd.DataFrame, paths: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accuracy with flops_per_question, selection.csv's frame): every chooser of every
    self-consistency curve, the verifier choosers by one verifier "prm", FLOPs 2 x parameters x
    tokens (a 200-token prompt counted once)."""
    size = dict(zip(accuracy["model"], accuracy["parameters"], strict=False))
    acc = accuracy.assign(flops_per_question=2 * accuracy["parameters"] * (200 + accuracy["mean_generated_tokens"]))
    rows = []
    for r in paths.to_dict("records"):
        for strategy, offset in SELECTION_STRATEGIES.items():
            a = float(np.clip(r["accuracy"] + offset * (1 - 1 / r["paths"]), 0, 100))
            rows.append(
                {**r, "strategy": strategy, "verifier": "prm" if "best_of_n" in strategy else "", "accuracy": a,
                 "ci_low": max(0.0, a - 5), "ci_high": min(100.0, a + 5),
                 "flops_per_question": 2 * size[r["model"]] * (200 + r["mean_generated_tokens"])}
            )  # fmt: skip
    return acc, pd.DataFrame(rows)
