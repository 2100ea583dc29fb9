"""The demo workflow, run for real by Snakemake in a temporary directory.

One module-scoped run builds the tiny models, generates, scores and reports; the tests then
check its outputs, that each model was loaded once, that a second run does nothing, and that
editing the extractor reruns scoring and reporting but no generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from decimal import Decimal
from html import unescape

import pandas as pd
import pytest
import yaml
from workflow_helpers import (
    AFTER_SCORES,
    REPO,
    copy_workflow,
    planned_jobs,
    run_snakemake,
    snakemake_cmd,
    write_config,
)

from cotrepro.io import read_json, read_jsonl, run_key
from cotrepro.outputs import FIGURE_NAMES

MODELS, METHODS, STYLES = ("tiny-t5", "tiny-llama"), ("zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot"), 2
TASKS = ("arith_demo", "coin_flip", "last_letters", "logic")
SAMPLED, SAMPLED_TASKS = ("few_shot_cot_sc", "zero_shot_cot_sc"), ("arith_demo", "last_letters")  # 5 paths each
# The prompt ablations on the logic puzzles: a second trigger, two more exemplar orders, the chat format
# (tiny-llama has a chat template, tiny-t5 none: its chat units write no rows).
ABLATION_TASK = "logic"
VARIANTS = (
    "zero_shot_cot@detective",
    "few_shot@reversed",
    "few_shot@shuffled",
    "few_shot_cot@reversed",
    "few_shot_cot@shuffled",
)
CHAT = tuple(f"{m}@chat" for m in METHODS)
DETECTIVE = "Let's think like a detective step by step."
PER_MODEL = len(TASKS) * len(METHODS) + len(SAMPLED_TASKS) * len(SAMPLED) + len(VARIANTS) + len(CHAT)
UNITS = len(MODELS) * PER_MODEL  # generations files


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    workflow = copy_workflow(root / "repo")
    workdir = root / "work"
    config = workflow / "config" / "demo.yaml"
    t0 = time.perf_counter()
    proc = run_snakemake(workflow, workdir, config)
    seconds = time.perf_counter() - t0
    print(f"demo workflow: {seconds:.1f} s")
    return {"workflow": workflow, "workdir": workdir, "config": config, "seconds": seconds, "stderr": proc.stderr}


def digests(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_demo_produces_every_output(demo):
    w = demo["workdir"]
    acc = pd.read_csv(w / "results/accuracy.csv")
    assert len(acc) == (UNITS - len(CHAT)) * STYLES  # tiny-t5's chat units have no rows
    assert set(acc["model"]) == set(MODELS) and set(acc["method"]) == set(METHODS + SAMPLED + VARIANTS + CHAT)
    assert set(acc["task"]) == set(TASKS) and set(acc[acc["method"].isin(SAMPLED)]["task"]) == set(SAMPLED_TASKS)
    assert set(acc[acc["method"].isin(VARIANTS + CHAT)]["task"]) == {ABLATION_TASK}
    assert set(acc[acc["method"].isin(CHAT)]["model"]) == {"tiny-llama"}
    assert (acc["n"] == 20).all()
    assert acc["accuracy"].between(0, 100).all() and (acc["ci_low"] <= acc["accuracy"]).all()
    assert acc["revision"].str.startswith("tiny-").all()
    for name in FIGURE_NAMES:
        for ext in ("png", "pdf"):
            assert (w / f"results/figures/{name}.{ext}").stat().st_size > 1000
    assert (w / "results/paper/paper.pdf").read_bytes().startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", str(w / "results/paper/paper.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "offline demo with random-weight models" in text and "random weights" in text


def test_demo_paper_has_no_overfull_box_and_its_first_result_by_page_three(demo):
    """The demo's paper, read back: the LaTeX log has no overfull box over 1 pt, and the main
    accuracy table (the first result) is on one of the first three pages."""
    from latex_checks import overfull_boxes, page_of, pdf_pages

    w = demo["workdir"]
    assert overfull_boxes(w / "results/paper/build/main.log") == []
    pages = pdf_pages(w / "results/paper/paper.pdf")
    first = page_of(pages, "Accuracy (%, robust extraction) with 95% Wilson intervals")
    print(f"demo paper: {len(pages)} pages, first result on page {first}")
    assert 1 <= first <= 3


def test_demo_report_in_chromium(demo):
    """The demo's report in headless Chromium at 1280 px: it loads with no console error, every
    figure is decoded, and every table fits the window."""
    from browser import CHROMIUM, render, report_problems

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package chromium; make setup-browser)")
    facts = render(demo["workdir"] / "results/report.html", width=1280)
    assert report_problems(facts, FIGURE_NAMES) == []


def test_generation_rows_and_metadata(demo):
    w = demo["workdir"]
    rows = read_jsonl(w / "results/generations/tiny-llama/arith_demo/zero_shot_cot.jsonl")
    assert len(rows) == 20 and len({r["id"] for r in rows}) == 20
    for r in rows:
        assert r["prompt"].startswith("<|user|>\nQ: ") is False  # plain completion format by default
        assert r["prompt"].endswith("A: Let's think step by step.")
        assert r["stage2_prompt"] == r["prompt"] + r["completion"] + " \nTherefore, the answer (arabic numerals) is"
        assert r["generated_tokens"] <= 32 and r["stage2_generated_tokens"] <= 12
        assert isinstance(r["hit_max_new_tokens"], bool) and r["seconds"] >= 0
    meta = read_json(w / "results/generations/tiny-llama/arith_demo/zero_shot_cot.meta.json")
    assert meta["backend"]["dtype"] == "float32" and meta["backend"]["device"] == "cpu"
    assert meta["model"]["resolved_revision"].startswith("tiny-")
    assert meta["prompt_format"] == "plain"
    assert meta["versions"]["transformers"] and meta["versions"]["torch"]
    assert meta["stats"]["rows"] == 20
    few = read_json(w / "results/generations/tiny-t5/arith_demo/few_shot_cot.meta.json")
    assert few["exemplars"]["name"] == "cotrepro-arith" and few["exemplars"]["origin"] == "project"
    assert len(few["exemplars"]["sha256"]) == 64 and few["exemplars"]["shots"] == 8
    # Flan-T5-like context of 512 tokens: the 8-shot CoT prompt is longer and is flagged, not cut.
    t5_rows = read_jsonl(w / "results/generations/tiny-t5/arith_demo/few_shot_cot.jsonl")
    assert all(r["over_context"] and r["prompt_tokens"] > 512 for r in t5_rows)
    assert all(r["prompt"].count("\n\nQ: ") == 8 for r in t5_rows)


def test_prompt_ablations_change_only_what_they_vary(demo):
    """The demo's trigger, exemplar-order and chat-format variants, read from their generation files."""
    w = demo["workdir"]
    base = w / f"results/generations/tiny-llama/{ABLATION_TASK}"

    def rows(method, model="tiny-llama"):
        return read_jsonl(w / f"results/generations/{model}/{ABLATION_TASK}/{method}.jsonl")

    plain = {r["id"]: r for r in rows("zero_shot_cot")}
    for r in rows("zero_shot_cot@detective"):
        question = plain[r["id"]]["prompt"].removesuffix("Let's think step by step.")
        assert r["prompt"] == question + DETECTIVE
        # The answer step is zero-shot CoT's, after this trigger's reasoning.
        trigger = plain[r["id"]]["stage2_prompt"].removeprefix(plain[r["id"]]["prompt"] + plain[r["id"]]["completion"])
        assert trigger.startswith(" \nTherefore, the answer")
        assert r["stage2_prompt"] == r["prompt"] + r["completion"] + trigger
    meta = read_json(base / "zero_shot_cot@detective.meta.json")
    assert meta["variant"] == {
        "kind": "trigger",
        "slug": "detective",
        "text": "Let's think like a detective step by step.",
    }

    def blocks(prompt):
        return prompt.split("\n\n")

    paper = {r["id"]: blocks(r["prompt"]) for r in rows("few_shot_cot")}
    for r in rows("few_shot_cot@reversed"):
        assert blocks(r["prompt"]) == [*paper[r["id"]][-2::-1], paper[r["id"]][-1]]
    shuffled = {r["id"]: blocks(r["prompt"]) for r in rows("few_shot_cot@shuffled")}
    for rid, b in shuffled.items():
        assert sorted(b[:-1]) == sorted(paper[rid][:-1]) and b[:-1] != paper[rid][:-1] and b[-1] == paper[rid][-1]
    assert len({tuple(b[:-1]) for b in shuffled.values()}) == 1  # one seeded order for every question

    for r in rows("few_shot@chat"):
        assert r["prompt"].startswith("<|user|>\nQ: ") and r["prompt"].endswith("<|assistant|>\n")
    assert read_json(base / "few_shot@chat.meta.json")["prompt_format"] == "chat_template"
    t5 = read_json(w / f"results/generations/tiny-t5/{ABLATION_TASK}/few_shot@chat.meta.json")
    assert (
        t5["not_applicable"] == "the model's tokenizer has no chat template" and rows("few_shot@chat", "tiny-t5") == []
    )

    sig = pd.read_csv(w / "results/significance.csv")
    pairs = set(zip(sig["model"], sig["method_a"], sig["method_b"], strict=True))
    assert ("tiny-llama", "zero_shot_cot", "zero_shot_cot@detective") in pairs
    assert ("tiny-llama", "few_shot", "few_shot@chat") in pairs and (
        "tiny-t5",
        "few_shot",
        "few_shot@chat",
    ) not in pairs
    html = unescape(re.sub(r"<[^>]+>", " ", (w / "results/report.html").read_text()))
    assert (
        "Reasoning triggers (Kojima et al.'s Table 4)" in html and "Let's think like a detective step by step." in html
    )
    assert "Exemplar order" in html and "Prompt format: plain against chat" in html
    assert "n/a (the model's tokenizer has no chat template)" in html
    pdf = subprocess.run(
        ["pdftotext", str(w / "results/paper/paper.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(pdf.split())
    for caption in ("Reasoning triggers in place of", "Exemplar order: accuracy", "Prompt format: the plain"):
        assert caption in text, caption


def test_self_consistency_votes_and_curves_come_from_the_stored_paths(demo):
    """On the demo's real output: every self-consistency prediction is the majority vote of its stored
    per-path answers, each question has its 5 paths, and the curve over paths ends at that vote."""
    from cotrepro.scoring.self_consistency import majority_vote

    w = demo["workdir"]
    acc = pd.read_csv(w / "results/accuracy.csv")
    curve = pd.read_csv(w / "results/accuracy_vs_paths.csv")
    checked = 0
    for model in MODELS:
        for task in SAMPLED_TASKS:
            for method in SAMPLED:
                rows = read_jsonl(w / f"results/generations/{model}/{task}/{method}.jsonl")
                assert len(rows) == 20 and all(len(r["paths"]) == 5 for r in rows)
                scores = read_jsonl(w / f"results/scores/{model}/{task}/{method}.jsonl")
                for s in scores:
                    for style in ("kojima", "robust"):
                        assert s[f"pred_{style}"] == majority_vote(s[f"paths_pred_{style}"])
                        checked += 1
                for style in ("kojima", "robust"):
                    mine = curve[(curve.model == model) & (curve.task == task) & (curve.method == method)]
                    mine = mine[mine["style"] == style]
                    assert mine["paths"].tolist() == [1, 2, 4, 5] and mine["exact"].all()
                    full = acc[
                        (acc.model == model) & (acc.task == task) & (acc.method == method) & (acc["style"] == style)
                    ]
                    assert float(mine["accuracy"].iloc[-1]) == float(full["accuracy"].iloc[0])
    assert checked == len(MODELS) * len(SAMPLED_TASKS) * len(SAMPLED) * 20 * 2
    meta = read_json(w / "results/generations/tiny-t5/last_letters/few_shot_cot_sc.meta.json")
    assert meta["sampling"] == {"paths": 5, "temperature": 0.7, "top_k": 40, "top_p": None, "seed": 0}
    html = (w / "results/report.html").read_text()
    assert "Test-time compute" in html and "few-shot CoT + self-consistency" in html


def test_disagreement_csv_rows_are_exactly_the_items_whose_styles_differ(demo):
    """On the demo's real output: one CSV row per item whose two predictions differ in its score
    file (and no other), with that file's gold, predictions and verdicts; the report and the paper
    show the counts and the examples."""
    from cotrepro.io import run_key
    from cotrepro.scoring.disagreements import CAUSES, disagreement_table, read_disagreements

    w = demo["workdir"]
    dis = read_disagreements(w / "results/extraction_disagreements.csv")
    fields = ("gold", "pred_kojima", "pred_robust", "correct_kojima", "correct_robust")
    expected, units = [], []
    for path in sorted((w / "results/scores").rglob("*.jsonl")):
        model, task, method = run_key(path)
        scores = read_jsonl(path)
        expected += [
            (model, task, method, s["id"], *(s[f] for f in fields))
            for s in scores
            if s["pred_kojima"] != s["pred_robust"]
        ]
        generations = read_jsonl(w / f"results/generations/{model}/{task}/{method}.jsonl")
        units.append(((model, task, method), generations, scores, read_jsonl(w / f"results/tasks/{task}.jsonl")))
    got = list(zip(dis["model"], dis["task"], dis["method"], dis["id"], *(dis[f] for f in fields), strict=True))
    assert expected and sorted(got) == sorted(expected) and len(set(got)) == len(got)
    assert set(dis["cause"]) <= set(CAUSES) and dis["excerpt"].str.len().gt(0).all()
    # Deterministic: the same files classified again give the same rows.
    again = disagreement_table(units)
    assert sorted(again.astype(str).itertuples(index=False)) == sorted(dis.astype(str).itertuples(index=False))
    html = unescape((w / "results/report.html").read_text())
    assert "Where the two extractions disagree" in html and f"{len(dis)} in all" in html
    assert 'id="disagreement-counts"' in html and 'id="disagreement-examples"' in html
    text = subprocess.run(
        ["pdftotext", str(w / "results/paper/paper.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Extraction disagreements: examples" in text and f"({len(dis)} in all)" in text


def planned_after_editing(demo, module: str) -> dict[str, int]:
    """The jobs a dry run plans once ``module`` (under src/cotrepro) is edited; the file is put back
    as it was, so the demo stays up to date for the other tests (checked)."""
    w, path = demo["workdir"], demo["workflow"] / "src/cotrepro" / module
    text, stat = path.read_text(), path.stat()
    path.write_text(text + "\n# an edit\n")
    try:
        plan = run_snakemake(demo["workflow"], w, demo["config"], "--dry-run")
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = run_snakemake(demo["workflow"], w, demo["config"], "--dry-run")
    assert planned_jobs(again.stdout + again.stderr) == {}
    return planned_jobs(plan.stdout + plan.stderr)


def test_editing_the_disagreement_classifier_reruns_its_table_and_documents_only(demo):
    """The classifier is a declared code input of the disagreements rule and of the documents that show
    its labels: an edit plans those jobs and no extraction or generation."""
    jobs = planned_after_editing(demo, "scoring/disagreements.py")
    assert jobs == {"disagreements": 1, "report": 1, "paper_fragments": 1, "paper": 1, "all": 1}, jobs


def test_editing_a_chooser_rescores_and_redraws_without_generating(demo):
    """A chooser is a declared code input of the selection rule: an edit plans it and what shows its
    tables (the figures, the report, the paper), and nothing of generation or extraction."""
    jobs = planned_after_editing(demo, "scoring/choosers.py")
    assert jobs == {"selection": 1, "figures": 1, "report": 1, "paper_fragments": 1, "paper": 1, "all": 1}, jobs
    table = pd.read_csv(demo["workdir"] / "results/selection.csv")
    assert {"majority", "coverage", "weighted_sum_normalized"} <= set(table["strategy"])
    assert (table["flops_per_question"] > 0).all()


def test_the_report_names_each_demo_verifier_with_its_weights_and_licence(demo):
    """The report's verifiers table, read from the verify jobs' metadata: the demo's three verifiers,
    each with the units it scored (every self-consistency unit of both models) and its licence."""
    html = (demo["workdir"] / "results/report.html").read_text()
    table = html[html.index('id="verifiers"') :]
    table = table[: table.index("</table>")]
    rows = [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    ]
    rows = [r for r in rows if r]  # the header row has th cells only
    assert [r[0] for r in rows] == ["self", "tiny-orm", "tiny-prm"] and {r[-1] for r in rows} == {"8"}
    assert [r[-2] for r in rows] == ["the generating model's", "Apache-2.0", "Apache-2.0"]
    assert rows[2][2].startswith("tiny (random weights) @ tiny-")


def hand_choice(answers, values, kind: str) -> list[str]:
    """The answers a chooser may pick, written from the papers' definitions and nothing of
    cotrepro.scoring: ``kind`` "sum" (argmax over answers of the summed values of their paths: the
    vote with values 1, Wang et al.'s weighted sums, weighted best-of-N), "avg" (that sum over the
    number of paths, Wang et al.'s weighted averages) or "max" (the answer of the best path:
    best-of-N). Paths without an answer take no part; an exact tie goes to the answer reached first.
    Near-ties (within 1e-9, where float rounding may decide) come back together."""
    answered = [i for i, a in enumerate(answers) if a]
    if not answered:
        return [""]
    if kind == "max":
        totals = {}
        for i in answered:
            totals[answers[i]] = max(totals.get(answers[i], values[i]), values[i])
    else:
        totals, counts = {}, Counter()
        for i in answered:
            totals[answers[i]] = totals.get(answers[i], 0) + values[i]
            counts[answers[i]] += 1
        if kind == "avg":
            totals = {a: t / counts[a] for a, t in totals.items()}
    best = max(totals.values())
    near = [a for a, t in totals.items() if abs(t - best) <= Decimal("1e-9") * abs(best) or t == best]
    # An exact tie goes to the answer reached first; only a near-tie (rounding) may go either way.
    return near[:1] if all(totals[a] == best for a in near) else near


def path_weight(logprob: float, tokens: int, normalized: bool) -> Decimal:
    """Wang et al.'s weight of a path, its probability: exp of its summed token log-probability, or of
    that over its token count (normalized); exact decimals, so that no weight underflows to 0."""
    exponent = Decimal(repr(logprob)) / max(tokens, 1) if normalized else Decimal(repr(logprob))
    return exponent.exp()


def test_every_stored_choice_is_the_chooser_recomputed_by_hand(demo):
    """For every demo self-consistency question, extraction style and strategy (and every verifier
    whose verification files the run has), the choice in results/selection_choices.jsonl is the one
    recomputed here from the score rows' per-path answers and log-probabilities and the verifiers'
    per-path scores; its verdict is its paths'; and the choices' accuracy is selection.csv's at k."""
    w = demo["workdir"]
    choices = read_jsonl(w / "results/selection_choices.jsonl")
    units: dict[tuple, list[dict]] = {}
    for r in choices:
        units.setdefault((r["model"], r["task"], r["method"]), []).append(r)
    assert set(units) == {(m, t, s) for m in MODELS for t in SAMPLED_TASKS for s in SAMPLED}
    verifiers: dict[tuple, dict] = {}  # unit -> verifier -> question id -> per-path scores
    for path in sorted((w / "results/verifications").rglob("*.jsonl")):
        meta = read_json(path.with_name(path.name.removesuffix(".jsonl") + ".meta.json"))
        verifiers.setdefault(run_key(path), {})[meta["verifier"]] = {r["id"]: r["scores"] for r in read_jsonl(path)}
    table = pd.read_csv(w / "results/selection.csv", dtype={"verifier": str}).fillna({"verifier": ""})
    checked = Counter()
    for unit, rows in units.items():
        scores = {s["id"]: s for s in read_jsonl(w / "results/scores/{}/{}/{}.jsonl".format(*unit))}
        assert {r["verifier"] for r in rows if r["verifier"]} == set(verifiers.get(unit, {})), unit
        assert {(r["id"], r["style"]) for r in rows} == {(q, s) for q in scores for s in ("kojima", "robust")}
        for r in rows:
            score, strategy = scores[r["id"]], r["strategy"]
            answers, correct = score[f"paths_pred_{r['style']}"], score[f"paths_correct_{r['style']}"]
            if strategy == "majority":
                values, kind = [Decimal(1)] * len(answers), "sum"
            elif strategy in ("best_of_n", "weighted_best_of_n"):
                per_path = verifiers[unit][r["verifier"]][r["id"]]
                values, kind = [Decimal(repr(float(v))) for v in per_path], "max" if strategy == "best_of_n" else "sum"
            else:
                normalized = strategy.endswith("_normalized")
                values = [
                    path_weight(lp, n, normalized)
                    for lp, n in zip(score["paths_logprob"], score["paths_tokens"], strict=True)
                ]
                kind = {"weighted_sum": "sum", "weighted_avg": "avg"}[strategy.rsplit("_", 1)[0]]
            expected = hand_choice(answers, values, kind)
            assert r["choice"] == expected[0] if len(expected) == 1 else r["choice"] in expected, (r, expected)
            assert r["correct"] == (bool(correct[answers.index(r["choice"])]) if r["choice"] else False), r
            checked[strategy] += 1
        # The choices from all k paths are what selection.csv's row at k' = k counts.
        k = min(len(s["paths_pred_robust"]) for s in scores.values())
        for (style, strategy, verifier), group in pd.DataFrame(rows).groupby(["style", "strategy", "verifier"]):
            row = table[
                (table["model"] == unit[0]) & (table["task"] == unit[1]) & (table["method"] == unit[2])
                & (table["style"] == style) & (table["strategy"] == strategy) & (table["verifier"] == verifier)
                & (table["paths"] == k)
            ]  # fmt: skip
            assert len(row) == 1 and row["accuracy"].iloc[0] == pytest.approx(100 * group["correct"].mean(), abs=0.01)
    weighted = {
        "weighted_avg_unnormalized",
        "weighted_avg_normalized",
        "weighted_sum_unnormalized",
        "weighted_sum_normalized",
    }
    assert {"majority", *weighted} <= set(checked), checked  # the demo's rows carry log-probabilities
    per_question = len(MODELS) * len(SAMPLED_TASKS) * len(SAMPLED) * 20 * STYLES
    assert all(checked[s] == per_question for s in ("majority", *weighted)), checked
    print(f"choices recomputed by hand: {dict(checked)}")


def test_each_model_is_loaded_once_for_all_its_units(demo):
    w = demo["workdir"]
    for model in MODELS:
        metas = [read_json(p) for p in (w / f"results/generations/{model}").rglob("*.meta.json")]
        assert len(metas) == PER_MODEL
        # Every unit names the same load (process, time), and that process loaded the model once.
        assert len({json.dumps(m["model_load"], sort_keys=True) for m in metas}) == 1, model
        assert metas[0]["model_load"]["count"] == 1 and len(metas[0]["job_units"]) == len(metas)
        log = (w / f"logs/generate/{model}.log").read_text()
        assert log.count("loading the model") == 1
        generated = len(metas) - (len(CHAT) if model == "tiny-t5" else 0)
        assert f"{model}: model loaded once; {len(metas)} units, {generated} with rows generated" in log


@pytest.mark.parametrize(
    "task,trigger",
    [("coin_flip", "Therefore, the answer (Yes or No) is"), ("last_letters", "Therefore, the answer is")],
)
def test_symbolic_tasks_use_their_own_triggers_and_exemplars(demo, task, trigger):
    w = demo["workdir"]
    rows = read_jsonl(w / f"results/generations/tiny-t5/{task}/zero_shot_cot.jsonl")
    assert len(rows) == 20 and all(r["stage2_prompt"].endswith("\n" + trigger) for r in rows)
    meta = read_json(w / f"results/generations/tiny-t5/{task}/few_shot_cot.meta.json")
    assert (
        meta["exemplars"]["name"] == f"cotrepro-{task.replace('_', '-')}" and meta["exemplars"]["origin"] == "project"
    )
    provenance = meta["task"]["provenance"]
    assert provenance["records"] == 500 and meta["task"]["records"] == 20  # the papers' 500, limited to 20 here
    assert provenance["params"]["size"] == 500 and provenance["params"]["seed"] == 0


def test_logic_set_triggers_follow_each_puzzles_format(demo):
    w = demo["workdir"]
    records = {r["id"]: r for r in read_jsonl(w / "results/tasks/logic.jsonl")}
    rows = read_jsonl(w / "results/generations/tiny-llama/logic/zero_shot_cot.jsonl")
    expected = {
        "number": "Therefore, the answer (arabic numerals) is",
        "yes_no": "Therefore, the answer (Yes or No) is",
    }
    assert {records[r["id"]]["answer_format"] for r in rows} == {"number", "yes_no"}
    for r in rows:
        assert r["stage2_prompt"].endswith("\n" + expected[records[r["id"]]["answer_format"]])
    scores = read_jsonl(w / "results/scores/tiny-llama/logic/zero_shot_cot.jsonl")
    assert {s["answer_format"] for s in scores} == {"number", "yes_no"}


def test_report_is_self_contained_and_says_demo_is_meaningless(demo):
    html = unescape((demo["workdir"] / "results/report.html").read_text())
    assert "random weights" in html and "meaningless" in html
    assert html.count("data:image/png;base64,") == len(FIGURE_NAMES)
    assert "Published vs reproduced" in html and "Wei2022 Table 2" not in html  # no gsm8k rows in the demo
    assert "Let's think step by step." in html  # the prompts section
    assert "prompts longer than the model's context" in html
    assert "cotrepro-arith" in html and "THE PROJECT'S OWN (not the papers' set)" in html
    assert "people=4, seed=0, size=500" in html  # the generated task's settings, beside its source


LOGPROBS = ("logprob", "stage2_logprob")


def _without_logprobs(part: dict, found: list) -> dict:
    found += [part[k] for k in LOGPROBS if k in part]
    out = {k: v for k, v in part.items() if k not in LOGPROBS}
    if "paths" in out:
        out["paths"] = [_without_logprobs(p, found) for p in out["paths"]]
    return out


def rows_without_timing(path):
    """A generations file's rows with the wall-clock field left out (and the content hash that covers
    it) and the log-probabilities apart: they differ across batch layouts at about 1e-6 (a resumed
    run's batches are others), to be compared within 1e-4, the rest exactly."""
    logprobs: list = []
    rows = [
        _without_logprobs({k: v for k, v in r.items() if k not in ("seconds", "content")}, logprobs)
        for r in read_jsonl(path)
    ]
    return rows, logprobs


def test_hard_kill_of_the_whole_run_then_unlock_and_rerun_matches_an_uninterrupted_run(demo, tmp_path):
    work = tmp_path / "work"
    generations = work / "results/generations"
    proc = subprocess.Popen(
        snakemake_cmd(demo["workflow"], work, demo["config"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: Snakemake and every job it started
    )
    deadline = time.time() + 400
    # Mid-run: some generation files finished, others not yet started.
    while time.time() < deadline and len(list(generations.rglob("*.meta.json"))) < 6:
        assert proc.poll() is None, "the demo ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # a lost node, an OOM-killed session, kill -9 of the group
    proc.wait(timeout=60)
    finished = len(list(generations.rglob("*.meta.json")))
    assert 6 <= finished < UNITS, finished

    locked = run_snakemake(demo["workflow"], work, demo["config"], check=False)
    assert locked.returncode != 0 and "Directory cannot be locked" in locked.stdout + locked.stderr
    run_snakemake(demo["workflow"], work, demo["config"], "--unlock")
    run_snakemake(demo["workflow"], work, demo["config"])

    reference = demo["workdir"]
    assert (work / "results/accuracy.csv").read_bytes() == (reference / "results/accuracy.csv").read_bytes()
    expected = sorted(p.relative_to(reference) for p in (reference / "results/generations").rglob("*.jsonl"))
    assert sorted(p.relative_to(work) for p in generations.rglob("*.jsonl")) == expected and len(expected) == UNITS
    for rel in expected:
        (rows, logprobs), (expected_rows, expected_logprobs) = (
            rows_without_timing(work / rel),
            rows_without_timing(reference / rel),
        )
        assert rows == expected_rows, rel
        assert logprobs == pytest.approx(expected_logprobs, abs=1e-4), rel


def test_second_run_does_nothing(demo):
    proc = run_snakemake(demo["workflow"], demo["workdir"], demo["config"], "--dry-run")
    assert planned_jobs(proc.stdout + proc.stderr) == {}
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_editing_the_extractor_reruns_scoring_but_no_generation(demo):
    w, workflow = demo["workdir"], demo["workflow"]
    generations = sorted((w / "results/generations").rglob("*.json*"))
    before = digests(generations)
    extractor = workflow / "src/cotrepro/scoring/extract.py"
    extractor.write_text(extractor.read_text() + "\n# an edit to the extractor\n")

    plan = run_snakemake(workflow, w, demo["config"], "--dry-run")
    jobs = planned_jobs(plan.stdout + plan.stderr)
    assert jobs == {
        "extract": len(MODELS),  # one a model, for all its (task, method) units
        "batch_invariance_summary": 1,  # recounts the flipped answers; the batch-1 rows stay
        **AFTER_SCORES,
    }, jobs

    run_snakemake(workflow, w, demo["config"])
    assert digests(generations) == before
    again = run_snakemake(workflow, w, demo["config"], "--dry-run")
    assert planned_jobs(again.stdout + again.stderr) == {}


def test_archive_round_trip_rebuilds_everything_without_generation(demo, tmp_path):
    w = demo["workdir"]
    run_snakemake(demo["workflow"], w, demo["config"], "archive")
    archive = w / "results/archive/generations.tar.gz"
    assert archive.stat().st_size > 10_000
    config = tmp_path / "from_archive.yaml"
    config.write_text(demo["config"].read_text() + f"\nfrom_archive: {archive}\n")
    plan = run_snakemake(demo["workflow"], tmp_path / "work", config, "--dry-run")
    jobs = planned_jobs(plan.stdout + plan.stderr)
    assert "generate" not in jobs and "build_tiny_model" not in jobs and "prepare_task" not in jobs, jobs
    assert jobs["restore_from_archive"] == 1 and jobs["extract"] == len(MODELS)
    run_snakemake(demo["workflow"], tmp_path / "work", config)
    assert (tmp_path / "work/results/accuracy.csv").read_text() == (w / "results/accuracy.csv").read_text()
    assert (tmp_path / "work/results/paper/paper.pdf").is_file()


def test_snakemake_report_has_every_figure_with_its_caption(demo, tmp_path):
    out = tmp_path / "snakemake-report.html"
    run_snakemake(demo["workflow"], demo["workdir"], demo["config"], f"--report={out}")
    html = out.read_text()
    for name in FIGURE_NAMES:
        assert f"{name}.png" in html
    assert "Test-time compute" in html and "paper.pdf" in html


def test_report_carries_model_notes_such_as_flan_t5_training_data(demo):
    from cotrepro.config import validate_config
    from cotrepro.outputs.loader import RunOutputs
    from cotrepro.outputs.report import render_report

    full = validate_config(yaml.safe_load((demo["workflow"] / "config/config.yaml").read_text()), demo["workflow"])
    note = full["model_specs"]["flan-t5-small"]["training_data_note"]
    assert "GSM8K" in note and all(
        full["model_specs"][f"flan-t5-{s}"]["training_data_note"] == note for s in ("base", "large")
    )
    w = demo["workdir"]
    html = unescape(
        render_report(
            RunOutputs.from_paths(
                accuracy=w / "results/accuracy.csv",
                published=demo["workflow"] / "config/published.csv",
                metas=sorted((w / "results/generations").rglob("*.meta.json")),
                model_notes={"tiny-t5": note, "tiny-llama": ""},
            )
        )
    )
    assert f"tiny-t5: {note}" in re.sub(r"<[^>]+>", "", html)


def test_changing_shots_regenerates_only_the_few_shot_units_rows(tmp_path):
    """A setting that shapes only few-shot prompts reruns the model's job, which reuses every other
    unit's rows as they are."""
    common = dict(
        models=["tiny-llama"],
        methods=["zero_shot", "zero_shot_cot", "few_shot"],
        limit=4,
        model_specs={"tiny-llama": {"source": "tiny", "architecture": "causal"}},
    )
    work, base = tmp_path / "work", "results/generations/tiny-llama/arith_demo"
    target = f"{base}/few_shot.jsonl"
    run_snakemake(REPO, work, write_config(tmp_path / "all.yaml", shots=None, **common), target)
    zero_shot = {m: (work / f"{base}/{m}.jsonl").read_bytes() for m in ("zero_shot", "zero_shot_cot")}
    made_in = {m: read_json(work / f"{base}/{m}.meta.json")["stats"]["row_seconds"] for m in zero_shot}

    two = write_config(tmp_path / "two.yaml", shots=2, **common)
    plan = run_snakemake(REPO, work, two, target, "--dry-run")
    assert planned_jobs(plan.stdout + plan.stderr) == {"generate": 1}
    run_snakemake(REPO, work, two, target)
    for method, before in zero_shot.items():
        assert (work / f"{base}/{method}.jsonl").read_bytes() == before, method
        stats = read_json(work / f"{base}/{method}.meta.json")["stats"]
        assert stats["reused_rows"] == 4 and stats["generated_rows"] == 0, (method, stats)
        assert stats["row_seconds"] == made_in[method] > 0  # the time the reused rows took when made
    stats = read_json(work / f"{base}/few_shot.meta.json")["stats"]
    assert stats["generated_rows"] == 4 and stats["reused_rows"] == stats["resumed_rows"] == 0
    assert all(r["prompt"].count("\n\nQ: ") == 2 for r in read_jsonl(work / target))
    log = (work / "logs/generate/tiny-llama.log").read_text()
    assert "3 units, 1 with rows generated (arith_demo/few_shot), 2 reused whole" in log
    again = run_snakemake(REPO, work, two, target, "--dry-run")
    assert planned_jobs(again.stdout + again.stderr) == {}


def test_the_scratch_llama_and_transformers_agree_on_every_demo_question(demo):
    """The demo's Llama 3-style tiny model through both implementations of the forward pass."""
    w = demo["workdir"]
    config = json.loads((w / "resources/models/tiny/tiny-llama3/config.json").read_text())
    assert config["rope_parameters"]["rope_type"] == "llama3" and config["tie_word_embeddings"]
    assert config["num_key_value_heads"] < config["num_attention_heads"]
    check = read_json(w / "results/agreement/tiny-llama3.json")
    assert {m: (v["rows"], v["identical"]) for m, v in check["methods"].items()} == {
        "zero_shot": (20, 20),
        "zero_shot_cot": (20, 20),
    }
    assert check["backends"]["scratch"]["engine"] == "cotrepro.scratch_llama"
    assert check["backends"]["hf"]["engine"] == "transformers.generate"
    rows = read_jsonl(w / "results/agreement/tiny-llama3/scratch/zero_shot_cot.jsonl")
    assert len({r["completion"] for r in rows}) >= 10  # each question its own text: agreement is not trivial
    html = unescape((w / "results/report.html").read_text())
    assert check["compared"] == ["hf", "scratch"]
    assert "Two engines, one model" in html and "40 of 40" in html
    assert "transformers' model classes and through the project's from-scratch Llama" in html


def test_batch_invariance_is_measured_on_both_tiny_models_and_shown(demo):
    """Ten seeded arithmetic questions per model generated again one at a time; what differs from the
    batched run (16 a batch) is counted, and shown in the report and the paper. Measured on CPU
    float32: nothing differs for either model (the engine's claim holds here)."""
    w = demo["workdir"]
    table = pd.read_csv(w / "results/batch_invariance.csv")
    assert table["model"].tolist() == list(MODELS)
    assert (table["task"] == "arith_demo").all() and (table["method"] == "few_shot_cot").all()
    assert (table["n"] == 10).all() and (table["batch_size"] == 16).all()
    assert table[["differing_completions", "flipped_kojima", "flipped_robust"]].to_numpy().sum() == 0
    for model in MODELS:
        rows = read_jsonl(w / f"results/batch_invariance/{model}.jsonl")
        batched = {r["id"]: r for r in read_jsonl(w / f"results/generations/{model}/arith_demo/few_shot_cot.jsonl")}
        assert len(rows) == 10 and all(r["key"] == batched[r["id"]]["key"] for r in rows)
        assert all(r["completion"] == batched[r["id"]]["completion"] for r in rows)
        assert read_json(w / f"results/batch_invariance/{model}.json")["items"] == []
    html = unescape((w / "results/report.html").read_text())
    assert "Batch-size invariance" in html and "0 of 20" in html
    text = subprocess.run(
        ["pdftotext", str(w / "results/paper/paper.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Batch-size invariance" in text and "0 of 20 completions differ" in " ".join(text.split())
