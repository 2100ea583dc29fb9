"""Commonsense reasoning: CommonsenseQA, StrategyQA, BIG-bench date and sports understanding.

CSQA, StrategyQA and date understanding are the files in Kojima et al.'s repository; sports
understanding is the BIG-Bench Hard copy of the BIG-bench task (its 250 examples, MIT licence),
the one public sports file that could be pinned and checked here.
"""

from __future__ import annotations

import random
from pathlib import Path

from cotrepro.data.sources import GitHubFile
from cotrepro.data.tasks import DatasetSpec, TaskSpec
from cotrepro.data.tasks.records import (
    answer_choices,
    bigbench_examples,
    correct_letter,
    correct_option,
    kojima_file,
    lettered,
    numbered,
    only_file,
    read_json_lines,
    record,
)

BBH_SPORTS = GitHubFile(
    repo="suzgunmirac/BIG-Bench-Hard",
    revision="9ee07bd481feebf959a6b59d61ea57bdcf30964d",
    path="bbh/sports_understanding.json",
    sha256="63ca262858f6176864515cd8cf53cdaa40839ebecc155b726d77930855d167bf",
)


def load_csqa(files: dict[str, Path], params: dict) -> list[dict]:
    """CommonsenseQA dev split: the stem followed by its five labelled choices; gold ``answerKey``."""
    records = []
    for rid, raw in numbered("csqa", read_json_lines(only_file(files))):
        choices = {c["label"]: c["text"] for c in raw["question"]["choices"]}
        question = f"{raw['question']['stem'].strip()} {answer_choices(choices)}"
        records.append(record(rid, question, raw["answerKey"], "choice:ABCDE", choices))
    return records


def yes_no(target_scores: dict[str, float], where: str) -> str:
    """BIG-bench's ``{"Yes": 1, "No": 0}`` -> ``"yes"``."""
    return correct_option(target_scores, where).strip().lower()


def load_strategyqa(files: dict[str, Path], params: dict) -> list[dict]:
    """StrategyQA (BIG-bench): the question as written; gold yes or no."""
    return [
        record(rid, ex["input"].strip(), yes_no(ex["target_scores"], rid), "yes_no")
        for rid, ex in numbered("strategyqa", bigbench_examples(only_file(files)))
    ]


def kojima_shuffled(options: list[str], rng: random.Random) -> list[str]:
    """``options`` in the order Kojima et al.'s ``shuffleDict`` gives: three shuffles of the keys in a row.

    Their ``shuffleDict`` shuffles the key list three times (the first two results unused); the
    random state it draws from is shared by all questions, so the order of a question depends on
    the questions before it, as in their code.
    """
    keys = list(options)
    for _ in range(3):
        rng.shuffle(keys)
    return keys


def load_date(files: dict[str, Path], params: dict) -> list[dict]:
    """Date understanding with the options in the order of Kojima et al.'s prompts.

    The file lists the right option first, so their code shuffled each question's options, with
    Python's ``random`` seeded once (``random_seed`` 1) before reading the file in order. One
    ``random.Random(seed)`` drawn from in file order reproduces it: seed 1 (the default) gives
    their exact questions; another seed gives another order by the same procedure.
    """
    rng = random.Random(params["seed"])
    records = []
    for rid, ex in numbered("date", bigbench_examples(only_file(files))):
        choices = lettered(kojima_shuffled(list(ex["target_scores"]), rng))
        gold = correct_letter(choices, ex["target_scores"], rid)
        records.append(record(rid, f"{ex['input'].strip()} {answer_choices(choices)}", gold, "choice:ABCDEF", choices))
    return records


def load_sports(files: dict[str, Path], params: dict) -> list[dict]:
    """Sports understanding: 'Is the following sentence plausible? "..."'; gold yes or no."""
    return [
        record(rid, ex["input"].strip(), ex["target"].strip().lower(), "yes_no")
        for rid, ex in numbered("sports", bigbench_examples(only_file(files)))
    ]


TASKS = (
    TaskSpec(
        key="csqa",
        kind="commonsense",
        description="CommonsenseQA dev split: five-way commonsense questions (Talmor et al., 2019)",
        dataset=DatasetSpec(
            key="csqa",
            remote=(
                kojima_file(
                    "CommonsenseQA/dev_rand_split.jsonl",
                    "3210497fdaae614ac085d9eb873dd7f4d49b6f965a93adadc803e1229fd8a02a",
                ),
            ),
        ),
        load=load_csqa,
        answer_format="choice:ABCDE",
        exemplars="wei2022-csqa",
        size=1221,
    ),
    TaskSpec(
        key="strategyqa",
        kind="commonsense",
        description="StrategyQA (BIG-bench version): yes/no questions needing implicit steps (Geva et al., 2021)",
        dataset=DatasetSpec(
            key="strategyqa",
            remote=(
                kojima_file("StrategyQA/task.json", "60af9081fed20102fd8bb1e02dc7d9f12238efcba33e4c1a56b4d61cb6409803"),
            ),
        ),
        load=load_strategyqa,
        answer_format="yes_no",
        exemplars="wei2022-strategyqa",
        size=2290,
    ),
    TaskSpec(
        key="date",
        kind="commonsense",
        description="BIG-bench date_understanding: date arithmetic with five or six options",
        dataset=DatasetSpec(
            key="date",
            remote=(
                kojima_file(
                    "Bigbench_Date/task.json", "ff716f0e399109146db3a998281c39954907b78268a9b633a95582d63847822f"
                ),
            ),
        ),
        load=load_date,
        answer_format="choice:ABCDEF",
        exemplars="wei2022-date",
        size=369,
        params={"seed": 1},
    ),
    TaskSpec(
        key="sports",
        kind="commonsense",
        description="BIG-bench sports_understanding, BIG-Bench Hard subset: is a sports sentence plausible?",
        dataset=DatasetSpec(key="sports", remote=(BBH_SPORTS,)),
        load=load_sports,
        answer_format="yes_no",
        exemplars="cotrepro-sports",
        size=250,
    ),
)
