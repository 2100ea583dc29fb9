"""Examples for readers: one full prompt per method, and per model one question its chain of
thought got right and one it got wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cotrepro import methods

MAX_CHARS = 900  # a transcript is an illustration; longer completions are cut, and say so


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_CHARS:
        return text
    return text[:MAX_CHARS] + f" [... {len(text) - MAX_CHARS} more characters]"


def choose(
    models: Sequence[str],
    tasks: Sequence[str],
    runs: Mapping[tuple[str, str, str], tuple[Sequence[dict], Sequence[dict], Sequence[dict]]],
    style: str = "robust",
) -> list[dict]:
    """Pick the transcripts deterministically.

    ``runs`` maps (model, task, method) to (generation rows, score rows, task records). For each
    model the tasks are taken in order, the reasoning methods in reverse display order (few-shot CoT
    before zero-shot CoT), questions in file order; the first right and the first wrong answer under
    ``style`` are kept.
    """
    cot_methods = [k for k in methods.all_keys() if methods.get(k).reasoning and not methods.get(k).samples]
    out = []
    for model in models:
        found: dict[bool, dict] = {}
        for task in tasks:
            for method in reversed(cot_methods):
                if (model, task, method) not in runs:
                    continue
                rows, scores, records = runs[model, task, method]
                questions = {r["id"]: r["question"] for r in records}
                by_id = {r["id"]: r for r in rows}
                for s in scores:
                    correct = bool(s[f"correct_{style}"])
                    if correct in found:
                        continue
                    row = by_id[s["id"]]
                    found[correct] = {
                        "model": model,
                        "task": task,
                        "method": method,
                        "id": s["id"],
                        "correct": correct,
                        "question": questions[s["id"]],
                        "completion": _clip(row["completion"]),
                        "stage2_completion": _clip(row.get("stage2_completion")),
                        "prediction": s[f"pred_{style}"],
                        "gold": s["gold"],
                    }
                if len(found) == 2:
                    break
            if len(found) == 2:
                break
        out += [found[c] for c in (True, False) if c in found]
    return out


def transcript_text(t: dict) -> str:
    """A chosen transcript as plain text: question, the model's reasoning (and answer step), the verdict."""
    text = f"Q: {t['question']}\n--- model ---\n{t['completion']}"
    if t.get("stage2_completion") is not None:
        text += f"\n--- answer step ---\n{t['stage2_completion']}"
    return text + f"\n--- extracted: {t['prediction'] or '(none)'}; gold: {t['gold']}"


def transcript_title(t: dict) -> str:
    """ "model, task, method (right|wrong)"."""
    return f"{t['model']}, {t['task']}, {methods.label(t['method'])} ({'right' if t['correct'] else 'wrong'})"


def example_prompts(metas: Sequence[dict]) -> list[tuple[dict, str]]:
    """One (generation metadata, full prompt text) per method and variant, in method order; zero-shot
    CoT shows both stages."""
    out, seen = [], set()
    order = methods.ordered_with_variants({m["method"] for m in metas})
    for m in sorted(metas, key=lambda m: (order.index(m["method"]), m["model"]["slug"], m["task"]["key"])):
        if m["method"] in seen:
            continue
        seen.add(m["method"])
        ex = m["example"]
        text = ex.get("prompt", "")
        if "stage2_prompt" in ex:
            text = (
                f"--- stage 1 ---\n{text}\n--- stage 2 (stage 1 + generated reasoning + trigger) ---\n"
                f"{ex['stage2_prompt']}"
            )
        out.append((m, text))
    return out
