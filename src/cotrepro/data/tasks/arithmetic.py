"""Arithmetic reasoning: GSM8K, SVAMP, MultiArith, AddSub, SingleEq, AQuA, and the offline demo set.

The non-GSM8K files are the ones in Kojima et al.'s repository, read the way their data_reader
read them (question text stripped, integer golds without ".0"), AQuA's options included: rendered
by their bracket-rewriting (``kojima_aqua_choices``), extra spaces and all, so that the questions
are the ones in their prompts."""

from __future__ import annotations

from pathlib import Path

from cotrepro.data.sources import GitHubFile
from cotrepro.data.tasks import DatasetSpec, TaskSpec
from cotrepro.data.tasks.records import (
    kojima_file,
    numbered,
    only_file,
    plain_number,
    read_json_doc,
    read_json_lines,
    record,
)

GSM8K_TEST = GitHubFile(
    repo="openai/grade-school-math",
    revision="3101c7d5072418e28b9008a6636bde82a006892c",
    path="grade_school_math/data/test.jsonl",
    sha256="3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
)


def final_answer(solution: str, where: str = "") -> str:
    """GSM8K's gold answer: the text after the last ``####``, stripped (e.g. ``"2,125"``); ``where``
    (a file and line) leads the error of a solution without one."""
    if "####" not in solution:
        lead = f"{where}: field 'answer': " if where else ""
        raise ValueError(f"{lead}GSM8K-style solution has no '####' final answer: {solution[-80:]!r}")
    return solution.split("####")[-1].strip()


def load_gsm8k_format(prefix: str):
    """A loader for JSON-lines files of ``{"question", "answer"}`` whose answer ends in ``#### N``."""

    def load(files: dict[str, Path], params: dict) -> list[dict]:
        return [
            record(rid, raw["question"].strip(), final_answer(raw["answer"], raw.where), "number")
            for rid, raw in numbered(prefix, read_json_lines(only_file(files)))
        ]

    return load


def load_mawps_format(prefix: str):
    """A loader for MultiArith, AddSub and SingleEq (``sQuestion`` and ``lSolutions[0]``)."""

    def load(files: dict[str, Path], params: dict) -> list[dict]:
        return [
            record(rid, raw["sQuestion"].strip(), plain_number(raw["lSolutions"][0]), "number")
            for rid, raw in numbered(prefix, read_json_doc(only_file(files)))
        ]

    return load


def load_svamp(files: dict[str, Path], params: dict) -> list[dict]:
    """SVAMP: the question is ``Body`` and ``Question`` joined by a space; the gold is ``Answer``."""
    return [
        record(rid, f"{raw['Body'].strip()} {raw['Question'].strip()}", plain_number(raw["Answer"]), "number")
        for rid, raw in numbered("svamp", read_json_doc(only_file(files)))
    ]


def split_aqua_option(option: str) -> tuple[str, str]:
    """``"B)21.5"`` -> ``("B", "21.5")``."""
    letter, sep, text = option.partition(")")
    if not sep or len(letter.strip()) != 1:
        raise ValueError(f"AQuA option is not of the form 'X)text': {option!r}")
    return letter.strip(), text.strip()


def kojima_aqua_choices(options: list[str]) -> str:
    """AQuA's options as Kojima et al.'s code renders them into the question.

    It joins the raw options (``"A)5 (√3 + 1)"``) with ``(``, then puts a space before every
    ``(`` and after every ``)``, those inside an option included:
    ``Answer Choices: (A) 5  (√3 + 1)  (B) ...``.
    """
    joined = "(" + "(".join(options)
    return "Answer Choices:" + joined.replace("(", " (").replace(")", ") ")


def load_aqua(files: dict[str, Path], params: dict) -> list[dict]:
    """AQuA-RAT test: the options appended as Kojima et al. rendered them; the gold is the correct letter."""
    records = []
    for rid, raw in numbered("aqua", read_json_lines(only_file(files))):
        choices = dict(split_aqua_option(o) for o in raw["options"])
        question = f"{raw['question'].strip()} {kojima_aqua_choices(raw['options'])}"
        records.append(record(rid, question, raw["correct"].strip(), "choice:ABCDE", choices))
    return records


def _kojima_arithmetic(key: str, description: str, path: str, sha256: str, load, size: int) -> TaskSpec:
    return TaskSpec(
        key=key,
        kind="arithmetic",
        description=description,
        dataset=DatasetSpec(key=key, remote=(kojima_file(path, sha256),)),
        load=load,
        answer_format="number",
        exemplars="wei2022-gsm8k",
        size=size,
    )


TASKS = (
    TaskSpec(
        key="gsm8k",
        kind="arithmetic",
        description="GSM8K test split: grade-school math word problems (Cobbe et al., 2021)",
        dataset=DatasetSpec(key="gsm8k", remote=(GSM8K_TEST,)),
        load=load_gsm8k_format("gsm8k"),
        answer_format="number",
        exemplars="wei2022-gsm8k",
        size=1319,
    ),
    _kojima_arithmetic(
        "svamp",
        "SVAMP: varied one-step arithmetic word problems (Patel et al., 2021)",
        "SVAMP/SVAMP.json",
        "5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e",
        load_svamp,
        1000,
    ),
    _kojima_arithmetic(
        "multiarith",
        "MultiArith: multi-step arithmetic word problems (Roy and Roth, 2015)",
        "MultiArith/MultiArith.json",
        "dc9db1b6cc68b1ecc2dec830d15aaf8c9a0932aa31d5ffce88ef3628179d36f4",
        load_mawps_format("multiarith"),
        600,
    ),
    _kojima_arithmetic(
        "addsub",
        "AddSub: addition and subtraction word problems (Hosseini et al., 2014)",
        "AddSub/AddSub.json",
        "21930fa90385c72b5a15f4b9a4dda27276b889ae9ff44285505cdd9fa0a20df8",
        load_mawps_format("addsub"),
        395,
    ),
    _kojima_arithmetic(
        "singleeq",
        "SingleEq: single-equation word problems (Koncel-Kedziorski et al., 2015)",
        "SingleEq/questions.json",
        "051507bd2b489c257057b485774a83d2710c23a4bc0f4a58e1822ae2773ef05e",
        load_mawps_format("singleeq"),
        508,
    ),
    TaskSpec(
        key="aqua",
        kind="arithmetic",
        description="AQuA-RAT test: algebraic word problems with five options (Ling et al., 2017)",
        dataset=DatasetSpec(
            key="aqua",
            remote=(kojima_file("AQuA/test.json", "de41581881ef95c5588c44ddc701c77fd480839241dd422a0d181262af24520c"),),
        ),
        load=load_aqua,
        answer_format="choice:ABCDE",
        exemplars="wei2022-aqua",
        size=254,
    ),
    TaskSpec(
        key="arith_demo",
        kind="arithmetic",
        description="the project's own arithmetic word problems in GSM8K's format (offline demo)",
        dataset=DatasetSpec(key="arith_demo", local=("config/datasets/arith_demo.jsonl",)),
        load=load_gsm8k_format("arith_demo"),
        answer_format="number",
        exemplars="cotrepro-arith",
        size=20,
    ),
)
