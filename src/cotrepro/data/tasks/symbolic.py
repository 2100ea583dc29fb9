"""Symbolic reasoning: shuffled objects (BIG-bench), the generated coin-flip and last-letter tasks,
and the project's own set of small logic puzzles.

Coin flip and last-letter concatenation are generated as Wei et al. and Kojima et al. did, but
from the project's own list of names and a seed, so a given (size, difficulty, seed) always gives
the same questions. Wei et al. used 2 people / 2 words in domain and 3-4 out of domain; Kojima
et al. used 4, which is the default here (config key ``task_params`` changes it). Setting
``source: kojima`` reads Kojima et al.'s released 500 questions instead (pinned and checksummed like
the other datasets): their published completions answer those.
"""

from __future__ import annotations

import random
from pathlib import Path

from cotrepro.data.tasks import DatasetSpec, TaskSpec
from cotrepro.data.tasks.records import (
    answer_choices,
    bigbench_examples,
    correct_letter,
    kojima_file,
    lettered,
    numbered,
    only_file,
    read_json_doc,
    read_json_lines,
    record,
)

NAMES_FILE = "config/datasets/names.txt"
LOGIC_FILE = "config/datasets/logic_puzzles.jsonl"
SHUFFLED_OBJECTS_LEAD = "\nWhich choice is true ? Answer Choices:"
"""Kojima et al.'s lead-in to the options of tracking_shuffled_objects (their spacing kept)."""


def load_shuffled_objects(files: dict[str, Path], params: dict) -> list[dict]:
    """Tracking shuffled objects (three objects), with the options after Kojima et al.'s framing."""
    records = []
    for rid, ex in numbered("shuffled_objects", bigbench_examples(only_file(files))):
        choices = lettered(list(ex["target_scores"]))
        gold = correct_letter(choices, ex["target_scores"], rid)
        question = f"{ex['input'].strip()} {answer_choices(choices, lead=SHUFFLED_OBJECTS_LEAD)}"
        records.append(record(rid, question, gold, "choice:ABC", choices))
    return records


def read_names(path: Path) -> list[str]:
    """The project's name list: one name a line, ``#`` comments and blank lines skipped, no repeats."""
    names = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: names repeat")
    return names


def _check_count(params: dict, key: str, names: list[str]) -> int:
    n = params[key]
    if not isinstance(n, int) or not 1 <= n <= len(names):
        raise ValueError(f"task setting {key!r} must be an integer from 1 to {len(names)}, got {n!r}")
    return n


def coin_flip_question(people: list[str], flips: list[bool]) -> str:
    """The coin-flip question in Kojima et al.'s wording."""
    steps = " ".join(
        f"{name} {'flips' if flip else 'does not flip'} the coin." for name, flip in zip(people, flips, strict=True)
    )
    return f'A coin is heads up. {steps} Is the coin still heads up? Note that "flip" here means "reverse".'


def generate_coin_flip(names: list[str], *, people: int, size: int, seed: int) -> list[dict]:
    """``size`` coin-flip questions with ``people`` people each; heads up again after an even number of flips."""
    rng = random.Random(seed)
    records = []
    for i in range(size):
        who = rng.sample(names, people)
        flips = [rng.random() < 0.5 for _ in who]
        answer = "yes" if sum(flips) % 2 == 0 else "no"
        records.append(record(f"coin_flip-{i:04d}", coin_flip_question(who, flips), answer, "yes_no"))
    return records


def last_letters_question(words: list[str]) -> str:
    """The last-letter question in Kojima et al.'s wording (their "each words" kept)."""
    return f'Take the last letters of each words in "{" ".join(words)}" and concatenate them.'


def generate_last_letters(names: list[str], *, words: int, size: int, seed: int) -> list[dict]:
    """``size`` last-letter concatenation questions over ``words`` names each."""
    rng = random.Random(seed)
    records = []
    for i in range(size):
        chosen = rng.sample(names, words)
        answer = "".join(w[-1] for w in chosen).lower()
        records.append(record(f"last_letters-{i:04d}", last_letters_question(chosen), answer, "text"))
    return records


def load_released(key: str, answer_format: str, files: dict[str, Path]) -> list[dict]:
    """Kojima et al.'s released set: ``{"examples": [{"question", "answer"}, ...]}``, read as written."""
    doc = read_json_doc(only_file(files))
    if not isinstance(doc, dict) or not isinstance(doc.get("examples"), list):
        raise ValueError(f"{key}: not Kojima et al.'s released set (no 'examples' list)")
    return [
        record(rid, ex["question"], str(ex["answer"]).strip(), answer_format)
        for rid, ex in numbered(key, doc["examples"])
    ]


def generated(generate, count: str, key: str = "", answer_format: str = ""):
    """A loader that runs ``generate`` over the name list with the task's settings (``count`` names a
    question), or reads Kojima et al.'s released set when the setting ``source`` is ``kojima``."""

    def load(files: dict[str, Path], params: dict) -> list[dict]:
        if params.get("source") == "kojima":
            return load_released(key, answer_format, files)
        names = read_names(only_file(files))
        return generate(names, **{count: _check_count(params, count, names)}, size=params["size"], seed=params["seed"])

    return load


RELEASED = {
    "coin_flip": kojima_file(
        "coin_flip/coin_flip.json", "68cf201737a1463ef6bed5419622805a8934d92bff6a28a9dfbf83be3135ba5a"
    ),
    "last_letters": kojima_file(
        "last_letters/last_letters.json", "60e8d092d0a6423d3256e87e0c249b69aefea4cd27985082095fa4e93931fb02"
    ),
}
"""Kojima et al.'s released coin-flip and last-letter sets (500 questions each, 4 people / 4 words)."""


def _generated_task(key: str, description: str, generate, count: str, answer_format: str) -> TaskSpec:
    return TaskSpec(
        key=key,
        kind="symbolic",
        description=description,
        dataset=DatasetSpec(key=key, local=(NAMES_FILE,)),
        load=generated(generate, count, key, answer_format),
        answer_format=answer_format,
        exemplars=f"cotrepro-{key.replace('_', '-')}",
        params={count: 4, "size": 500, "seed": 0, "source": "generated"},
        alternatives={"kojima": DatasetSpec(key=f"{key}_kojima", remote=(RELEASED[key],))},
    )


def load_logic(files: dict[str, Path], params: dict) -> list[dict]:
    """The project's logic puzzles: each line names its own answer format (number or yes_no)."""
    records = []
    for rid, raw in numbered("logic", read_json_lines(only_file(files))):
        if raw.get("answer_format") not in ("number", "yes_no"):
            raise ValueError(f"{LOGIC_FILE} line {rid}: answer_format must be number or yes_no")
        records.append(record(rid, raw["question"].strip(), str(raw["answer"]).strip(), raw["answer_format"]))
    return records


TASKS = (
    TaskSpec(
        key="shuffled_objects",
        kind="symbolic",
        description="BIG-bench tracking_shuffled_objects, three objects: follow a series of swaps",
        dataset=DatasetSpec(
            key="shuffled_objects",
            remote=(
                kojima_file(
                    "Bigbench_object_tracking/task.json",
                    "74b74d3c8827c0387a3f24ee9efa7edd90b2d53af3daacb9961341af66f750a0",
                ),
            ),
        ),
        load=load_shuffled_objects,
        answer_format="choice:ABC",
        exemplars="cotrepro-shuffled-objects",
        size=750,
    ),
    _generated_task(
        "coin_flip",
        "coin flip (generated): is the coin still heads up after people flip it or not?",
        generate_coin_flip,
        "people",
        "yes_no",
    ),
    _generated_task(
        "last_letters",
        "last-letter concatenation (generated): join the last letters of some names",
        generate_last_letters,
        "words",
        "text",
    ),
    TaskSpec(
        key="logic",
        kind="symbolic",
        description="the project's own logic and symbolic puzzles (numbers and yes/no), for comparing methods",
        dataset=DatasetSpec(key="logic", local=(LOGIC_FILE,)),
        load=load_logic,
        answer_format="mixed",
        exemplars="cotrepro-logic",
        size=20,
    ),
)
