"""The task suite: every source downloaded from its pinned location, parsed into the exact
question the model sees, prompted exactly for each method; generators checked independently."""

import dataclasses
import hashlib
import json
import random
import re
from pathlib import Path

import pytest
from servers import StaticServer
from task_fixtures import DIRECT_TRIGGERS, FIXTURES, TRIGGERS

from cotrepro import methods, prompts
from cotrepro.answers import normalize_answer
from cotrepro.data.download import fetch_url, sha256_file
from cotrepro.data.exemplars import REMOTE_SETS, parse_project_set, project_set_path
from cotrepro.data.tasks import TASKS, get_task
from cotrepro.data.tasks.prepare import prepare_records
from cotrepro.data.tasks.symbolic import generate_coin_flip, generate_last_letters, read_names

REPO = Path(__file__).resolve().parents[2]

PAPER_SIZES = {
    "gsm8k": 1319,
    "svamp": 1000,
    "multiarith": 600,
    "addsub": 395,
    "singleeq": 508,
    "aqua": 254,
    "csqa": 1221,
    "strategyqa": 2290,
    "date": 369,
    "sports": 250,
    "shuffled_objects": 750,
    "coin_flip": 500,
    "last_letters": 500,
}
"""The issue's size table (sports: the 250 examples of the pinned BIG-Bench Hard file)."""

WEI_SHOTS = {"aqua": 4, "csqa": 7, "strategyqa": 6, "date": 6, "sports": 8, "last_letters": 4, "coin_flip": 8}
"""How many exemplars Wei et al. used per task; the project's own sets keep the same size."""

EXEMPLAR = {"question": "Q-text", "rationale": "Because.", "answer": "X"}


def test_every_task_of_the_issue_is_registered_with_its_format():
    formats = {k: TASKS[k].answer_format for k in PAPER_SIZES}
    assert formats == {
        "gsm8k": "number",
        "svamp": "number",
        "multiarith": "number",
        "addsub": "number",
        "singleeq": "number",
        "aqua": "choice:ABCDE",
        "csqa": "choice:ABCDE",
        "strategyqa": "yes_no",
        "date": "choice:ABCDEF",
        "sports": "yes_no",
        "shuffled_objects": "choice:ABC",
        "coin_flip": "yes_no",
        "last_letters": "text",
    }
    assert {k: TASKS[k].kind for k in ("gsm8k", "csqa", "coin_flip", "logic")} == {
        "gsm8k": "arithmetic",
        "csqa": "commonsense",
        "coin_flip": "symbolic",
        "logic": "symbolic",
    }


@pytest.mark.parametrize("fmt", sorted(TRIGGERS))
def test_answer_triggers_are_kojimas(fmt):
    assert prompts.answer_trigger(fmt) == TRIGGERS[fmt]
    assert prompts.direct_answer_trigger(fmt) == DIRECT_TRIGGERS[fmt]


def _serve_and_fetch(task, tmp_path):
    """Serve the task's fixture at its pinned path on a local server and download it the workflow's way."""
    (pinned,) = task.dataset.remote
    raw = FIXTURES[task.key]["raw"].encode()
    sha = hashlib.sha256(raw).hexdigest()
    dest = tmp_path / "resources" / task.dataset.key / pinned.filename
    with StaticServer({f"/{pinned.repo}/{pinned.revision}/{pinned.path}": raw}) as server:
        fetch_url(pinned.url(server.url("")), dest, sha, retries=0, timeout=5)
        assert server.hits("GET") == 1
    return dest


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_source_downloads_and_renders_exact_prompts(key, tmp_path):
    task = get_task(key)
    fx = FIXTURES[key]
    dest = _serve_and_fetch(task, tmp_path)
    records = prepare_records(
        dataclasses.replace(task, size=None),
        [dest],
        params=dict(task.params),
        records_path=tmp_path / "t.jsonl",
        provenance_path=tmp_path / "t.prov.json",
    )
    first = records[0]
    assert (first["question"], first["answer"], first["answer_format"]) == (fx["question"], fx["answer"], fx["format"])
    assert all(normalize_answer(r["answer"], r["answer_format"]) for r in records)
    prov = json.loads((tmp_path / "t.prov.json").read_text())
    assert prov["files"][0]["source"].startswith(f"github.com/{task.dataset.remote[0].repo}@")
    assert prov["files"][0]["sha256"] == sha256_file(dest)

    q, fmt = fx["question"], fx["format"]
    assert prompts.build_prompt(methods.get("zero_shot"), q, answer_format=fmt) == f"Q: {q}\nA: {DIRECT_TRIGGERS[fmt]}"
    stage1 = prompts.build_prompt(methods.get("zero_shot_cot"), q, answer_format=fmt)
    assert stage1 == f"Q: {q}\nA: Let's think step by step."
    assert prompts.zero_shot_cot_stage2(stage1, " R.", prompts.answer_trigger(fmt)) == (
        f"Q: {q}\nA: Let's think step by step. R. \n{TRIGGERS[fmt]}"
    )
    assert prompts.build_prompt(methods.get("few_shot"), q, answer_format=fmt, exemplars=[EXEMPLAR]) == (
        f"Q: Q-text\nA: The answer is X.\n\nQ: {q}\nA:"
    )
    assert prompts.build_prompt(methods.get("few_shot_cot"), q, answer_format=fmt, exemplars=[EXEMPLAR]) == (
        f"Q: Q-text\nA: Because. The answer is X.\n\nQ: {q}\nA:"
    )


def test_wrong_record_count_names_the_task_and_the_papers_size(tmp_path):
    dest = _serve_and_fetch(get_task("csqa"), tmp_path)
    with pytest.raises(ValueError, match="task csqa: the dataset has 1 records, the papers' test set has 1221"):
        prepare_records(
            get_task("csqa"), [dest], params={}, records_path=tmp_path / "r.jsonl", provenance_path=tmp_path / "p.json"
        )
    assert not (tmp_path / "r.jsonl").exists()


def test_date_options_follow_kojimas_seeded_shuffle(tmp_path):
    task = get_task("date")
    dest = _serve_and_fetch(task, tmp_path)
    a = task.load({dest.name: dest}, {"seed": 1})
    assert a == task.load({dest.name: dest}, dict(task.params))  # seed 1, theirs, is the default
    assert a[0]["choices"][a[0]["answer"]] == "02/29/2020"
    assert a[1]["choices"][a[1]["answer"]] == "01/01/2000" and len(a[1]["choices"]) == 5
    # Their procedure, written out as in their utils.py: random seeded once, then per question in
    # file order three shuffles of the option list.
    rng = random.Random(1)
    for rec, ex in zip(a, json.loads(FIXTURES["date"]["raw"])["examples"], strict=True):
        keys = list(ex["target_scores"])
        for _ in range(3):
            rng.shuffle(keys)
        assert list(rec["choices"].values()) == keys
    b = task.load({dest.name: dest}, {"seed": 0})
    assert [r["question"] for r in a] != [r["question"] for r in b]


# --- generated tasks -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def names():
    return read_names(REPO / "config/datasets/names.txt")


_COIN = re.compile(r'^A coin is heads up\. (.*) Is the coin still heads up\? Note that "flip" here means "reverse"\.$')
_LETTERS = re.compile(r'^Take the last letters of each words in "([^"]+)" and concatenate them\.$')


def test_name_list_is_the_projects_and_large_enough(names):
    assert len(names) >= 400 and len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Z][a-z]+", n) for n in names)


@pytest.mark.parametrize("people", [2, 3, 4])
def test_coin_flip_answers_match_an_independent_count(people, names):
    records = generate_coin_flip(names, people=people, size=200, seed=7)
    assert records == generate_coin_flip(names, people=people, size=200, seed=7)
    for r in records:
        steps = re.findall(r"(\w+) (flips|does not flip) the coin\.", _COIN.match(r["question"])[1])
        assert len(steps) == people and len({name for name, _ in steps}) == people
        heads_up = True
        for _, action in steps:
            if action == "flips":
                heads_up = not heads_up
        assert r["answer"] == ("yes" if heads_up else "no")
    assert 60 < sum(r["answer"] == "yes" for r in records) < 140  # both answers common, not a constant


def test_coin_flip_question_wording_is_kojimas():
    r = generate_coin_flip(["Ada", "Bo"], people=2, size=1, seed=0)[0]
    assert re.fullmatch(
        r"A coin is heads up\. (Ada|Bo) (flips|does not flip) the coin\. (Ada|Bo) (flips|does not "
        r'flip) the coin\. Is the coin still heads up\? Note that "flip" here means "reverse"\.',
        r["question"],
    )


@pytest.mark.parametrize("words", [2, 4])
def test_last_letters_answers_match_the_words(words, names):
    records = generate_last_letters(names, words=words, size=200, seed=3)
    assert records == generate_last_letters(names, words=words, size=200, seed=3)
    assert records != generate_last_letters(names, words=words, size=200, seed=4)
    for r in records:
        chosen = _LETTERS.match(r["question"])[1].split(" ")
        assert len(chosen) == words
        assert r["answer"] == "".join(word[len(word) - 1] for word in chosen).lower()
        assert normalize_answer(r["answer"], "text") == r["answer"]


def test_generated_task_settings_flow_into_records_and_provenance(tmp_path):
    task = get_task("coin_flip")
    names = REPO / "config/datasets/names.txt"
    params = {**task.params, "people": 2, "size": 30}
    records = prepare_records(
        task, [names], params=params, records_path=tmp_path / "c.jsonl", provenance_path=tmp_path / "c.json"
    )
    assert len(records) == 30 and all(r["question"].count(" the coin.") == 2 for r in records)
    prov = json.loads((tmp_path / "c.json").read_text())
    assert prov["params"] == {"people": 2, "seed": 0, "size": 30, "source": "generated"}
    assert prov["files"][0]["source"] == "cotrepro:config/datasets/names.txt"
    with pytest.raises(ValueError, match="'words' must be an integer from 1 to"):
        get_task("last_letters").load({"names.txt": names}, {"words": 0, "size": 3, "seed": 0})


# --- the project's logic set and exemplar sets -----------------------------------------------


def test_logic_set_mixes_numbers_and_yes_no_with_matching_triggers(tmp_path):
    task = get_task("logic")
    path = REPO / "config/datasets/logic_puzzles.jsonl"
    records = prepare_records(
        task, [path], params={}, records_path=tmp_path / "l.jsonl", provenance_path=tmp_path / "l.json"
    )
    formats = {r["answer_format"] for r in records}
    assert len(records) == 20 and formats == {"number", "yes_no"}
    yes_no = next(r for r in records if r["answer_format"] == "yes_no")
    assert prompts.build_prompt(methods.get("zero_shot"), yes_no["question"], answer_format="yes_no").endswith(
        "\nA: The answer (Yes or No) is"
    )


def _exemplar_sets():
    return sorted({t.exemplars for t in TASKS.values()})


@pytest.mark.parametrize("name", _exemplar_sets())
def test_every_default_exemplar_set_exists(name):
    assert name in REMOTE_SETS or project_set_path(REPO, name).is_file()


def _project_sets() -> list[tuple[str, str]]:
    """(task, project set) for every task with a project set: its default, or the one it replaced."""
    return sorted(
        (k, t.exemplars if t.exemplars not in REMOTE_SETS else f"cotrepro-{k.replace('_', '-')}")
        for k, t in TASKS.items()
        if t.exemplars not in REMOTE_SETS or k in ("aqua", "csqa", "date", "strategyqa")
    )


@pytest.mark.parametrize(("key", "name"), _project_sets())
def test_project_exemplars_answer_in_the_tasks_format(key, name):
    task = get_task(key)
    exemplars = parse_project_set(project_set_path(REPO, name).read_text())
    if key in WEI_SHOTS:
        assert len(exemplars) == WEI_SHOTS[key]
    for e in exemplars:
        fmts = ("number", "yes_no") if task.answer_format == "mixed" else (task.answer_format,)
        assert any(normalize_answer(e["answer"], f) == e["answer"] for f in fmts), e
        assert "The answer is" not in e["rationale"]
        if task.answer_format.startswith("choice:"):
            assert f"({e['answer']}) " in e["question"], e["question"]


def test_arithmetic_tasks_share_wei_et_al_gsm8k_exemplars():
    assert {TASKS[k].exemplars for k in ("gsm8k", "svamp", "multiarith", "addsub", "singleeq")} == {"wei2022-gsm8k"}


# --- sizes against the real files, where a run has them ------------------------------------


@pytest.mark.parametrize("key", sorted(PAPER_SIZES))
def test_prepared_task_has_the_papers_size(key, tmp_path):
    """Checks the size table against real data: the pinned downloads under resources/datasets
    (prepared here afresh) or the prepared results/tasks file of a workflow run."""
    task = get_task(key)
    raw = [REPO / "resources/datasets" / task.dataset.key / f.filename for f in task.dataset.remote]
    prepared = REPO / "results/tasks" / f"{key}.jsonl"
    if task.dataset.remote and all(p.is_file() for p in raw):
        assert all(sha256_file(p) == f.sha256 for p, f in zip(raw, task.dataset.remote, strict=True))
        records = prepare_records(
            task, raw, params=dict(task.params), records_path=tmp_path / "r.jsonl", provenance_path=tmp_path / "p.json"
        )
        assert len(records) == PAPER_SIZES[key]
    elif not task.dataset.remote:
        files = [REPO / p for p in task.dataset.local]
        assert (
            len(
                prepare_records(
                    task,
                    files,
                    params=dict(task.params),
                    records_path=tmp_path / "r.jsonl",
                    provenance_path=tmp_path / "p.json",
                )
            )
            == PAPER_SIZES[key]
        )
    elif prepared.is_file():
        provenance = json.loads(prepared.with_suffix(".provenance.json").read_text())
        assert provenance["records"] == PAPER_SIZES[key] == len(prepared.read_text().splitlines())
    else:
        pytest.skip(f"{key}: no downloaded or prepared data here (run the workflow with this task first)")


def test_an_lfs_file_is_fetched_from_githubs_media_host_and_a_mirror_keeps_its_layout():
    from cotrepro.data.sources import RAW_GITHUB
    from cotrepro.data.tasks.arithmetic import GSM8K_TEST
    from cotrepro.data.tasks.competition import MATH500_TEST

    rev = MATH500_TEST.revision
    assert MATH500_TEST.url(RAW_GITHUB + "/") == (
        f"https://media.githubusercontent.com/media/openai/prm800k/{rev}/prm800k/math_splits/test.jsonl"
    )
    assert (
        MATH500_TEST.url("http://127.0.0.1:9/gh")
        == f"http://127.0.0.1:9/gh/openai/prm800k/{rev}/prm800k/math_splits/test.jsonl"
    )
    assert GSM8K_TEST.url(RAW_GITHUB).startswith("https://raw.githubusercontent.com/openai/grade-school-math/")
