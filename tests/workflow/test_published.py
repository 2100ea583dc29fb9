"""Published completions as a model source: Kojima et al.'s log format parsed into generation rows,
the calibration table, the config's refusals, the workflow against a local mirror, and — when a
local copy of their repository is given (COTREPRO_KOJIMA_REPO) — their real logs and datasets.

The log entries below are written by the tests in the exact layout of their ``log/*.log`` files
(the questions are the project's own); nothing of theirs is stored here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from servers import StaticServer
from workflow_helpers import REPO, run_snakemake

from cotrepro import prompts
from cotrepro.config import ConfigError, validate_config
from cotrepro.data.tasks import get_task, task_params
from cotrepro.data.tasks.records import KOJIMA_REPO, KOJIMA_REVISION
from cotrepro.models import published
from cotrepro.outputs.calibration import calibration_table, display
from cotrepro.scoring.score import score_rows

STARS = "*" * 25
HEADER = "*****************************\nNamespace(method='zero_shot_cot')\n*****************************\n"


def entry(number: int | None, transcript: str, answer: str, cleansed: str, gold: str) -> str:
    """One log entry exactly as their main.py printed it (``number`` None: the older layout of
    multiarith_zero_shot.log, without the "Nst data" line)."""
    head = f"{STARS}\n" + (f"{number}st data\n1_th_sampling\n" if number else "0_th_sampling\n")
    return (
        f"{head}{transcript}\npred_before : {answer}\npred_after : {cleansed}\n"
        f"pred_list : ['{cleansed}']\npred_mode : {cleansed}\nGT : {gold}\n{STARS}\n"
    )


COIN = [
    ('A coin is heads up. Ada flips the coin. Bo does not flip the coin. Is the coin still heads up? Note that "flip" '
     'here means "reverse".', "no"),
    ('A coin is heads up. Cy does not flip the coin. Di does not flip the coin. Is the coin still heads up? Note that '
     '"flip" here means "reverse".', "yes"),
]  # fmt: skip
LETTERS = [
    ('Take the last letters of each words in "Nao Ana" and concatenate them.', "oa"),
    ('Take the last letters of each words in "Bob Eve" and concatenate them.', "be"),
]


def cot_transcript(question: str, reasoning: str, trigger: str, answer: str) -> str:
    """Their zero-shot CoT transcript: ``x + z + " " + trigger + pred``, the trigger starting with a newline."""
    return f"Q: {question}\nA: Let's think step by step.{reasoning} \n{trigger}{answer}"


def coin_logs() -> dict[str, str]:
    """Logs of both methods for the coin-flip fixture: zero-shot CoT gets both right (the first
    reasoning writes the trigger itself; the second answer spans lines and ends with a space and
    newline, which their pred_before drops), zero-shot gets the first wrong."""
    trig = "Therefore, the answer (Yes or No) is"
    (q1, g1), (q2, g2) = COIN
    cot = (
        HEADER
        + entry(1, cot_transcript(q2, " Nobody flips. \nTherefore, the answer (Yes or No) is yes.", trig, " Yes."),
                " Yes.", "yes", g2)
        + entry(2, cot_transcript(q1, " Ada flips it once.", trig, " No.\nIt is tails. \n"), " No.\nIt is tails.",
                "no", g1)
        + "accuracy : 100.0\n"
    )  # fmt: skip
    direct = (
        HEADER
        + entry(None, f"Q: {q1}\nA: The answer (Yes or No) is yes.", " yes.", "yes", g1)
        + entry(None, f"Q: {q2}\nA: The answer (Yes or No) is yes.", " yes.", "yes", g2)
    )
    return {"zero_shot_cot": cot, "zero_shot": direct}


def coin_records() -> list[dict]:
    return [
        {"id": f"coin_flip-{i:04d}", "question": q, "answer": a, "answer_format": "yes_no", "choices": None}
        for i, (q, a) in enumerate(COIN)
    ]


# --- the log format --------------------------------------------------------------------------


def test_log_entries_parse_in_both_layouts():
    cot = published.parse_log(coin_logs()["zero_shot_cot"])
    assert [e.number for e in cot] == [1, 2]
    assert cot[1].question == COIN[0][0]
    assert (cot[1].logged_answer, cot[1].cleansed, cot[1].gold, cot[1].correct) == (
        " No.\nIt is tails.",
        "no",
        "no",
        True,
    )
    direct = published.parse_log(coin_logs()["zero_shot"])  # no "Nst data" lines
    assert [e.question for e in direct] == [COIN[0][0], COIN[1][0]]
    assert [e.correct for e in direct] == [False, True]
    with pytest.raises(ValueError, match="no log entries"):
        published.parse_log("accuracy : 0\n")


def test_rows_match_records_by_question_and_rebuild_their_stage2_input():
    records = coin_records()
    rows = published.published_rows(published.parse_log(coin_logs()["zero_shot_cot"]), records, "zero_shot_cot", "k")
    assert [r["id"] for r in rows] == [r["id"] for r in records]  # record order, not the log's
    first, second = rows
    # The reasoning that wrote the trigger itself is kept whole: the split is the trigger after
    # which the logged answer follows.
    assert second["completion"] == " Nobody flips. \nTherefore, the answer (Yes or No) is yes."
    assert second["stage2_completion"] == " Yes."
    assert first["stage2_completion"] == " No.\nIt is tails. \n"
    assert first["stage2_prompt"] == (
        f"Q: {COIN[0][0]}\nA: Let's think step by step. Ada flips it once. \nTherefore, the answer (Yes or No) is"
    )
    assert first["stage2_prompt"] == prompts.zero_shot_cot_stage2(
        first["prompt"], first["completion"], prompts.answer_trigger("yes_no")
    )
    assert first["published"] == {"entry": 2, "prediction": "no", "gold": "no"}
    scores = score_rows(rows, records, "zero_shot_cot")
    assert [s["pred_kojima"] for s in scores] == ["no", "yes"]


def test_a_question_missing_from_the_log_or_a_different_join_is_an_error():
    records = coin_records()
    other = [{**records[0], "question": "Is this in the log?"}]
    with pytest.raises(ValueError, match="not in the published log.*prompts differ"):
        published.published_rows(published.parse_log(coin_logs()["zero_shot_cot"]), other, "zero_shot_cot", "k")
    (q, gold) = COIN[0]
    # Reasoning joined to the trigger by the newline alone (the project's old join) is not theirs.
    joined = f"Q: {q}\nA: Let's think step by step. Ada flips it.\nTherefore, the answer (Yes or No) is No."
    log = HEADER + entry(1, joined, " No.", "no", gold)
    with pytest.raises(ValueError, match="no ' \\\\nTherefore"):
        published.published_rows(published.parse_log(log), records[:1], "zero_shot_cot", "k")


def test_repeated_questions_are_matched_in_order_gold_first():
    q = COIN[0][0]
    log = (
        HEADER
        + entry(1, f"Q: {q}\nA: The answer (Yes or No) is yes.", " yes.", "yes", "yes")
        + entry(2, f"Q: {q}\nA: The answer (Yes or No) is no.", " no.", "no", "no")
    )
    records = [
        {"id": "a", "question": q, "answer": "no", "answer_format": "yes_no"},
        {"id": "b", "question": q, "answer": "yes", "answer_format": "yes_no"},
    ]
    rows = published.published_rows(published.parse_log(log), records, "zero_shot", "k")
    assert [r["published"]["entry"] for r in rows] == [2, 1]


def test_calibration_table_flags_a_cell_that_misses_the_published_number():
    records = coin_records()
    logs = coin_logs()
    units = []
    for method in ("zero_shot", "zero_shot_cot"):
        rows = published.published_rows(published.parse_log(logs[method]), records, method, "k")
        units.append(({"model": "text-davinci-002", "task": "coin_flip", "method": method}, rows,
                      score_rows(rows, records, method)))  # fmt: skip
    pub = pd.DataFrame(
        [
            {
                "source": "Kojima2022 Table 1",
                "model": "text-davinci-002",
                "task": "coin_flip",
                "method": m,
                "accuracy": a,
            }
            for m, a in (("zero_shot", "50.0"), ("zero_shot_cot", "91.4"))
        ]
    )
    table = calibration_table(units, pub)
    assert table[["method", "published", "paper-faithful", "robust", "matches"]].values.tolist() == [
        ["zero_shot", 50.0, 50.0, 50.0, True],
        ["zero_shot_cot", 91.4, 100.0, 100.0, False],
    ]
    cells = display(table)
    assert [c["missed"] for c in cells] == [False, True]
    assert cells[1]["paper-faithful"] == "100.0 (0 answers disagree)"


# --- the configuration -----------------------------------------------------------------------


def _config(**overrides) -> dict:
    config = {
        "models": ["text-davinci-002"],
        "tasks": ["gsm8k", "coin_flip"],
        "methods": ["zero_shot", "zero_shot_cot"],
        "task_params": {"coin_flip": {"source": "kojima"}},
        "model_specs": {"text-davinci-002": {"source": "published", "repo": KOJIMA_REPO, "revision": KOJIMA_REVISION}},
    }
    config.update(overrides)
    return config


def test_the_calibration_config_is_valid():
    config = yaml.safe_load((REPO / "config/calibrate.yaml").read_text())
    validate_config(config, REPO)
    assert len(config["tasks"]) == 12 and config["methods"] == ["zero_shot", "zero_shot_cot"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"methods": ["zero_shot", "few_shot"]}, "hold methods zero_shot, zero_shot_cot only, not few_shot"),
        ({"tasks": ["sports"]}, "hold tasks .* only, not sports"),
        ({"task_params": {}}, "set task_params: {coin_flip: {source: kojima}}"),
        (
            {"model_specs": {"text-davinci-002": {"source": "published", "repo": KOJIMA_REPO, "revision": "main"}}},
            "no published completions are pinned for kojima-takeshi188/zero_shot_cot@main",
        ),
        ({"task_params": {"coin_flip": {"source": "elsewhere"}}}, "source"),
    ],
)
def test_published_source_refuses_what_the_logs_do_not_hold(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(_config(**overrides), REPO)


# --- the workflow, logs and released sets served from a local mirror -------------------------


def _mirror_files() -> tuple[dict[str, bytes], dict[str, str]]:
    """Coin-flip fixture files at their pinned paths, and the sha256 they have."""
    files = {
        "log/coin_flip_zero_shot.log": coin_logs()["zero_shot"].encode(),
        "log/coin_flip_zero_shot_cot.log": coin_logs()["zero_shot_cot"].encode(),
        "dataset/coin_flip/coin_flip.json": json.dumps(
            {"examples": [{"question": q, "answer": a} for q, a in COIN]}
        ).encode(),
    }
    return (
        {f"/{KOJIMA_REPO}/{KOJIMA_REVISION}/{p}": data for p, data in files.items()},
        {p: hashlib.sha256(data).hexdigest() for p, data in files.items()},
    )


def test_calibration_run_from_a_local_mirror(tmp_path, monkeypatch):
    """The whole path, no GPU: released set and logs downloaded (sha256 checked against pins the test
    sets to its fixtures), rows imported, scored, and the calibration table written."""
    from workflow_helpers import copy_workflow

    served, sha = _mirror_files()
    workflow = copy_workflow(tmp_path / "wf")
    # The pins name the real files' sha256; the copy's pins name the fixtures'.
    pub = workflow / "src/cotrepro/models/published.py"
    text = pub.read_text()
    for name in ("coin_flip_zero_shot", "coin_flip_zero_shot_cot"):
        text = text.replace(published._LOG_SHA256[name], sha[f"log/{name}.log"])
    pub.write_text(text)
    sym = workflow / "src/cotrepro/data/tasks/symbolic.py"
    from cotrepro.data.tasks.symbolic import RELEASED

    sym.write_text(sym.read_text().replace(RELEASED["coin_flip"].sha256, sha["dataset/coin_flip/coin_flip.json"]))
    work = tmp_path / "run"
    work.mkdir()
    with StaticServer(served) as server:
        config = _config(
            tasks=["coin_flip"],
            task_params={"coin_flip": {"source": "kojima", "size": 2}},
            sources={"github_base_url": server.base_url},
        )
        cfg = tmp_path / "calibrate.yaml"
        cfg.write_text(yaml.safe_dump(config))
        targets = ("results/calibration.csv", "results/report.html", "results/paper/fragments")
        run_snakemake(workflow, work, cfg, *targets, env={"PYTHONPATH": str(workflow / "src")})
        assert server.hits("GET", "/log/") == 2
    rows = list(csv.DictReader((work / "results/calibration.csv").open()))
    assert [(r["method"], r["published"], r["paper-faithful"], r["matches"]) for r in rows] == [
        ("zero_shot", "12.8", "50.0", "False"),
        ("zero_shot_cot", "91.4", "100.0", "False"),
    ]
    # The report and the paper show the cells; those that miss the published number in red, with the count.
    html = (work / "results/report.html").read_text()
    assert 'id="calibration"' in html and html.count('class="miss"') == 2
    assert "100.0 (0 answers disagree)" in html
    tex = (work / "results/paper/fragments/calibration.tex").read_text()
    assert "\\textcolor{red}{100.0 (0 answers disagree)}" in tex and "tab:calibration" in tex
    gen = [
        json.loads(line)
        for line in (work / "results/generations/text-davinci-002/coin_flip/zero_shot_cot.jsonl").open()
    ]
    assert gen[0]["stage2_prompt"].endswith(" Ada flips it once. \nTherefore, the answer (Yes or No) is")
    manifest = json.loads((work / "resources/models/text-davinci-002.json").read_text())
    assert manifest["source"] == "published" and {f["sha256"] for f in manifest["files"]} == {
        sha["log/coin_flip_zero_shot.log"],
        sha["log/coin_flip_zero_shot_cot.log"],
    }


# --- their real logs and datasets, when a local copy of their repository is given -----------

KOJIMA_COPY = os.environ.get("COTREPRO_KOJIMA_REPO")
needs_copy = pytest.mark.skipif(
    not (KOJIMA_COPY and (Path(KOJIMA_COPY) / "log").is_dir()),
    reason="set COTREPRO_KOJIMA_REPO to a local copy of kojima-takeshi188/zero_shot_cot at the pinned commit",
)
OWN_PATHS = {"gsm8k": "dataset/grade-school-math/test.jsonl"}
"""Their copy of a file the project pins elsewhere (the same bytes: GSM8K's test split)."""


def _real_unit(task: str, method: str):
    root = Path(KOJIMA_COPY)
    spec = get_task(task)
    params = task_params(spec, {"source": "kojima"} if task in published.TASKS_REQUIRING_KOJIMA_SOURCE else {})
    pinned = spec.dataset_for(params).remote[0]
    path = root / OWN_PATHS.get(task, pinned.path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned.sha256
    log = root / published.log_file(task, method).path
    assert hashlib.sha256(log.read_bytes()).hexdigest() == published.log_file(task, method).sha256
    records = spec.load({pinned.filename: path}, params)
    entries = published.parse_log(log.read_text(encoding="utf-8"))
    return records, entries


@needs_copy
@pytest.mark.parametrize("task", sorted(published.LOG_NAMES))
def test_real_logs_question_text_and_stage2_inputs_are_theirs(task):
    for method in published.METHODS:
        records, entries = _real_unit(task, method)
        # Every question of the task is character-identical to one of their prompts ...
        assert sorted(r["question"] for r in records) == sorted(e.question for e in entries)
        # ... and every row's stage-2 input, rebuilt by the project, is their transcript's
        # (published_rows raises on the first that is not).
        rows = published.published_rows(entries, records, method, "k")
        assert len(rows) == len(records)


def _published_accuracy() -> dict[tuple[str, str], str]:
    with open(REPO / "config/published.csv", encoding="utf-8") as fh:
        return {
            (r["task"], r["method"]): r["accuracy"] for r in csv.DictReader(fh) if r["source"] == "Kojima2022 Table 1"
        }


@needs_copy
@pytest.mark.parametrize("task", sorted(published.LOG_NAMES))
def test_real_logs_rescored_give_their_table_1_and_robust_is_never_worse(task):
    table = _published_accuracy()
    for method in published.METHODS:
        records, entries = _real_unit(task, method)
        rows = published.published_rows(entries, records, method, "k")
        scores = score_rows(rows, records, method)
        faithful = 100 * sum(s["correct_kojima"] for s in scores) / len(scores)
        assert f"{faithful:.1f}" == table[(task, method)], (task, method)
        # The robust style is never worse than the paper-faithful one on their completions.
        assert sum(s["correct_robust"] for s in scores) >= sum(s["correct_kojima"] for s in scores), (task, method)
        # Their own cleansing, per question, is what the paper-faithful style gives.
        assert sum(s["correct_kojima"] != (r["published"]["prediction"] == r["published"]["gold"])
                   for s, r in zip(scores, rows, strict=True)) == 0  # fmt: skip


@needs_copy
def test_the_calibration_paper_from_their_real_files_has_no_overfull_box(tmp_path):
    """`config/calibrate.yaml` run whole against a local mirror of their repository (and of GSM8K,
    whose test split they copied): all 24 cells imported and scored, the paper built, and its
    LaTeX log free of boxes overfull by more than 1 pt; the first result within three pages."""
    from latex_checks import overfull_boxes, page_of, pdf_pages

    from cotrepro.data.tasks.arithmetic import GSM8K_TEST

    root = Path(KOJIMA_COPY)
    files = {
        f"/{KOJIMA_REPO}/{KOJIMA_REVISION}/{p.relative_to(root).as_posix()}": p.read_bytes()
        for folder in ("dataset", "log")
        for p in (root / folder).rglob("*")
        if p.is_file()
    }
    files[f"/{GSM8K_TEST.repo}/{GSM8K_TEST.revision}/{GSM8K_TEST.path}"] = (root / OWN_PATHS["gsm8k"]).read_bytes()
    with StaticServer(files) as server:
        config = yaml.safe_load((REPO / "config/calibrate.yaml").read_text())
        config["sources"] = {"github_base_url": server.base_url}
        cfg = tmp_path / "calibrate.yaml"
        cfg.write_text(yaml.safe_dump(config))
        run_snakemake(REPO, tmp_path / "run", cfg, "results/calibration.csv", "results/paper/paper.pdf")
    work = tmp_path / "run"
    assert len(list(csv.DictReader((work / "results/calibration.csv").open()))) == 24
    assert overfull_boxes(work / "results/paper/build/main.log") == []
    pages = pdf_pages(work / "results/paper/paper.pdf")
    assert page_of(pages, "Accuracy (%, robust extraction) with 95% Wilson intervals") <= 3
