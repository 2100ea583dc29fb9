"""Competition mathematics: MATH-500, the 500-problem test subset of MATH that Lightman et al.
(2023, "Let's Verify Step by Step") held out, as released in openai/prm800k.

``prm800k/math_splits/test.jsonl`` is a Git LFS file: the pinned sha256 is its content's (the LFS
pointer's ``oid``), so it is downloaded from GitHub's LFS media host (the pointer text would fail
the check rather than be parsed). Each line is ``{"problem", "solution", "answer", "subject",
"level", "unique_id"}``; the record's gold is ``answer`` (LaTeX), its id keeps ``unique_id``'s order.
"""

from __future__ import annotations

from pathlib import Path

from cotrepro.data.sources import GitHubFile
from cotrepro.data.tasks import DatasetSpec, TaskSpec
from cotrepro.data.tasks.records import numbered, only_file, read_json_lines, record

MATH500_TEST = GitHubFile(
    repo="openai/prm800k",
    revision="7ecc794703b2877f63226f2477a49b34f9b25163",
    path="prm800k/math_splits/test.jsonl",
    sha256="35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
    lfs=True,
)


def load_math500(files: dict[str, Path], params: dict) -> list[dict]:
    """MATH-500's records: ``problem`` as the question, ``answer`` (LaTeX) as the gold, format ``math``."""
    records = []
    for rid, raw in numbered("math500", read_json_lines(only_file(files))):
        for key in ("problem", "answer"):
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise ValueError(f"{raw.where}: field {key!r} must be a non-empty string")
        records.append(record(rid, raw["problem"].strip(), raw["answer"].strip(), "math"))
    return records


TASKS = (
    TaskSpec(
        key="math500",
        kind="arithmetic",
        description="MATH-500: competition mathematics, Lightman et al.'s test subset of MATH (Hendrycks et al., 2021)",
        dataset=DatasetSpec(key="math500", remote=(MATH500_TEST,)),
        load=load_math500,
        answer_format="math",
        exemplars="wei2022-gsm8k",
        size=500,
    ),
)
