"""Arithmetic word problems in GSM8K's format: GSM8K itself and the project's offline demo set."""

from __future__ import annotations

import json
from pathlib import Path

from cotrepro.sources import GitHubFile
from cotrepro.tasks import DatasetSpec, TaskSpec

ARITHMETIC_TRIGGER = "Therefore, the answer (arabic numerals) is"

GSM8K_TEST = GitHubFile(
    repo="openai/grade-school-math",
    revision="3101c7d5072418e28b9008a6636bde82a006892c",
    path="grade_school_math/data/test.jsonl",
    sha256="3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
)


def final_answer(solution: str) -> str:
    """GSM8K's gold answer: the text after the last ``####``, stripped (e.g. ``"2,125"``)."""
    if "####" not in solution:
        raise ValueError(f"GSM8K-style solution has no '####' final answer: {solution[-80:]!r}")
    return solution.split("####")[-1].strip()


def load_gsm8k_format(prefix: str):
    """A loader for JSON-lines files of ``{"question", "answer"}`` whose answer ends in ``#### N``."""

    def load(files: dict[str, Path]) -> list[dict]:
        (path,) = files.values()
        records = []
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if not line.strip():
                    continue
                raw = json.loads(line)
                records.append(
                    {
                        "id": f"{prefix}-{i:04d}",
                        "question": raw["question"].strip(),
                        "answer": final_answer(raw["answer"]),
                        "answer_format": "number",
                        "choices": None,
                    }
                )
        return records

    return load


TASKS = (
    TaskSpec(
        key="gsm8k",
        kind="arithmetic",
        description="GSM8K test split: grade-school math word problems (Cobbe et al., 2021)",
        dataset=DatasetSpec(key="gsm8k", remote=(GSM8K_TEST,)),
        load=load_gsm8k_format("gsm8k"),
        answer_format="number",
        answer_trigger=ARITHMETIC_TRIGGER,
        exemplars="wei2022-gsm8k",
        size=1319,
    ),
    TaskSpec(
        key="arith_demo",
        kind="arithmetic",
        description="the project's own arithmetic word problems in GSM8K's format (offline demo)",
        dataset=DatasetSpec(key="arith_demo", local=("config/datasets/arith_demo.jsonl",)),
        load=load_gsm8k_format("arith_demo"),
        answer_format="number",
        answer_trigger=ARITHMETIC_TRIGGER,
        exemplars="cotrepro-arith",
        size=20,
    ),
)
