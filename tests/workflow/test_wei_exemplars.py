"""Wei et al.'s exemplars through the real workflow: downloaded from a local mirror of the pinned
files' layout, checked by sha256, parsed, put in the few-shot CoT prompts, and listed with their
differences from the paper in the report and the paper.

The mirror serves the project's own fixtures (tests/support/exemplar_fixtures.py, tests/support/task_fixtures.py);
a private copy of the workflow is pinned to their sha256. With COTREPRO_WEI_EXEMPLARS_DIR set to
a folder laid out like the mirror (``{repo}/{commit}/{path}``) holding the real pinned files, the
same run uses them under the real pins. No text of theirs is stored here: the real run checks the
first exemplars by sha256.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from exemplar_fixtures import FIRST, fixture_files
from servers import StaticServer
from task_fixtures import FIXTURES
from workflow_helpers import copy_workflow, run_snakemake, write_config

from cotrepro.data.exemplars import REMOTE_SETS
from cotrepro.data.tasks import TASKS
from cotrepro.io import read_json, read_jsonl

SETS = {"csqa": "wei2022-csqa", "aqua": "wei2022-aqua", "date": "wei2022-date", "strategyqa": "wei2022-strategyqa"}
COUNTS = {"csqa": 7, "aqua": 4, "date": 6, "strategyqa": 6}
REAL_DIR = os.environ.get("COTREPRO_WEI_EXEMPLARS_DIR")
REAL_FIRST_SHA256 = {
    # sha256 of the first exemplar's question, then of its whole block as the prompt shows it
    # (the first questions issue 14 names for CSQA, AQuA, date and StrategyQA).
    "csqa": (
        "f9cb3c9d7baa51e91da080b6fea5679d79bcb4ca6b5d3aab2247c74c5b9bfd22",
        "1fee21cf33f81fec531056309e0729fb22e183be2ea51ee3e605c8fa7b5d32d5",
    ),
    "aqua": (
        "3e898aabb24c4ef9217b75fcd23bfef2e6d8463a8fa176394bdd5acf6731ebfb",
        "ef0c4ad5ab4fbaf84a17d8d01b741da919ffaef703c83c26fc5b3e0ff512968b",
    ),
    "date": (
        "4e1ac2ce6c43bbf314478cfe5bac01664c7374b8df0fcf22203ef81ce7170d2b",
        "7802a2ed637145c3b5beb11eb0e5a5e4c001160f81c6ccbb4f3a8b97a6f4d38a",
    ),
    "strategyqa": (
        "078fb10c5d2267ac80d39fd516d67abf9d6b0bc47f13a897e76cadb4f29c3f54",
        "7e784ec4fda901d8f56106869371afe6463a78232f66512f8c12a3fe1e28c2e2",
    ),
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _repin(path: Path, replacements: dict[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements.items():
        assert text.count(old) == 1, (path, old)
        text = text.replace(old, new)
    path.write_text(text)


def _run(tmp_path: Path, exemplar_files: dict[str, bytes], *, repin_exemplars: bool) -> Path:
    """Run few-shot CoT on the four tasks (one question each, a tiny model) up to the report and the
    paper's fragments, every download from a local mirror; return the working directory."""
    workflow = copy_workflow(tmp_path / "wf")
    served = dict(exemplar_files)
    for task in SETS:
        pinned, raw = TASKS[task].dataset.remote[0], FIXTURES[task]["raw"].encode()
        served["/" + pinned.url("").lstrip("/")] = raw
        # The fixtures hold a record or two, not the papers' test sets: the copy drops the size check.
        module = workflow / "src/cotrepro/data/tasks" / TASKS[task].module
        _repin(module, {pinned.sha256: hashlib.sha256(raw).hexdigest(), f"size={TASKS[task].size},": "size=None,"})
    if repin_exemplars:
        fixture_sha = {p: hashlib.sha256(b).hexdigest() for p, b in exemplar_files.items()}
        # Self-Verification's one file serves three sets: one pin to replace.
        files = {REMOTE_SETS[s].file for s in SETS.values()}
        pins = {f.sha256: fixture_sha["/" + f.url("").lstrip("/")] for f in files}
        _repin(workflow / "src/cotrepro/data/exemplars.py", pins)
    work = tmp_path / "work"
    with StaticServer(served) as mirror:
        config = write_config(
            tmp_path / "wei.yaml",
            models=["tiny-t5"],
            tasks=list(SETS),
            methods=["few_shot_cot"],
            limit=1,
            model_specs={"tiny-t5": {"source": "tiny", "architecture": "seq2seq"}},
            sources={"github_base_url": mirror.base_url, "retries": 0},
        )
        targets = ("results/report.html", "results/paper/fragments")
        run_snakemake(workflow, work, config, *targets, env={"PYTHONPATH": str(workflow / "src")})
        # One download per set, each sha256-checked against the (copy's) pin.
        assert mirror.hits("GET", "/WENGSYX/") == 3 and mirror.hits("GET", "/open-compass/") == 1
    return work


def _prompt_blocks(work: Path, task: str) -> list[str]:
    [row] = read_jsonl(work / f"results/generations/tiny-t5/{task}/few_shot_cot.jsonl")
    blocks = row["prompt"].split("\n\n")
    assert len(blocks) == COUNTS[task] + 1, (task, len(blocks))
    # Every exemplar in the papers' format, then the test question as the task's records show it.
    for block in blocks[:-1]:
        assert block.startswith("Q: ") and "\nA: " in block and " The answer is " in block and block.endswith(".")
    [record] = read_jsonl(work / f"results/tasks/{task}.jsonl")[:1]
    assert blocks[-1] == f"Q: {record['question']}\nA:"
    return blocks


def _check_deviations_shown(work: Path) -> None:
    meta = read_json(work / "results/generations/tiny-t5/csqa/few_shot_cot.meta.json")["exemplars"]
    assert meta["name"] == "wei2022-csqa" and meta["shots"] == 7
    [fox] = meta["manifest"]["deviations"]
    assert (fox["exemplar"], fox["source"], fox["paper"]) == (3, "C", "B")
    html = (work / "results/report.html").read_text()
    assert 'id="exemplar-sources"' in html and 'id="exemplar-differences"' in html
    assert "The fox exemplar: the source answers (C)" in html
    assert "Apache-2.0" in html and "a7782d82132d1ebce6f4919a9b3dd2a7c53865e0" in html
    tex = (work / "results/paper/fragments/exemplars.tex").read_text()
    assert "tab:exemplar-sources" in tex and "exemplar 3: The fox exemplar" in tex
    assert "(form)" in tex and "open-compass/opencompass" in tex.replace("\\seqsplit{", "").replace("}", "")


def test_few_shot_cot_prompts_carry_the_wei_sets_from_a_mirror(tmp_path):
    work = _run(tmp_path, fixture_files(), repin_exemplars=True)
    for task in SETS:
        first = FIRST[task]
        blocks = _prompt_blocks(work, task)
        assert blocks[0] == f"Q: {first['question']}\nA: {first['rationale']} The answer is {first['answer']}."
    _check_deviations_shown(work)


needs_real_files = pytest.mark.skipif(
    not (REAL_DIR and Path(REAL_DIR).is_dir()),
    reason="set COTREPRO_WEI_EXEMPLARS_DIR to a folder holding the real pinned files as {repo}/{commit}/{path}",
)


@needs_real_files
def test_the_real_pinned_files_give_wei_et_als_exemplars(tmp_path):
    """The issue's check: the real files, under the real pins, give 7/4/6/6 exemplars whose first ones
    are the issue's, in the papers' format, and the fox deviation is listed."""
    root = Path(REAL_DIR)
    files = {}
    for name in set(SETS.values()):
        f = REMOTE_SETS[name].file
        files["/" + f.url("").lstrip("/")] = (root / f.repo / f.revision / f.path).read_bytes()
    work = _run(tmp_path, files, repin_exemplars=False)
    for task, (question_sha, block_sha) in REAL_FIRST_SHA256.items():
        first = _prompt_blocks(work, task)[0]
        assert _sha(first.removeprefix("Q: ").split("\nA: ")[0]) == question_sha, task
        assert _sha(first) == block_sha, task
    _check_deviations_shown(work)
