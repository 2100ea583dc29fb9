"""Exemplar sets: parsing lm-evaluation-harness's layout and the project's own sets."""

import re
from pathlib import Path

import pytest

from cotrepro.data import exemplars
from cotrepro.io import read_json

REPO = Path(__file__).resolve().parents[2]

# A fixture in lm-evaluation-harness's gsm8k-cot.yaml layout, with the project's own text.
LM_EVAL_YAML = """\
dataset_name: main
dataset_path: openai/gsm8k
doc_to_text: 'Q: {{question}}

  A:'
fewshot_config:
  sampler: first_n
  samples:
  - question: Ann has 2 cats and gets 3 more. How many cats does
      she have?
    target: Ann starts with 2 cats. She gets 3 more, so 2 + 3 = 5. The answer
      is 5.
  - question: A box has 10 pens and 4 are used. How many are left?
    target: 10 - 4 = 6 pens are left. The answer is 6.
process_results: !function utils.process_results
num_fewshot: 8
"""


def test_lm_eval_samples_split_into_rationale_and_answer():
    items = exemplars.parse_lm_eval_fewshot(LM_EVAL_YAML)
    assert items == [
        {
            "question": "Ann has 2 cats and gets 3 more. How many cats does she have?",
            "rationale": "Ann starts with 2 cats. She gets 3 more, so 2 + 3 = 5.",
            "answer": "5",
        },
        {
            "question": "A box has 10 pens and 4 are used. How many are left?",
            "rationale": "10 - 4 = 6 pens are left.",
            "answer": "6",
        },
    ]


def test_target_without_answer_sentence_is_rejected():
    with pytest.raises(ValueError, match="The answer is"):
        exemplars.split_target("Two plus two is four.")


def test_yaml_without_samples_is_rejected():
    with pytest.raises(ValueError, match="fewshot_config.samples"):
        exemplars.parse_lm_eval_fewshot("task: x\n")


EQUATION = re.compile(r"(\d+(?:\.\d+)?(?:\s*[-+*/]\s*\d+(?:\.\d+)?)+)\s*=\s*(\d+(?:\.\d+)?)")


def test_project_arithmetic_set_has_eight_correct_exemplars():
    items = exemplars.parse_project_set(exemplars.project_set_path(REPO, "cotrepro-arith").read_text())
    assert len(items) == 8
    for e in items:
        equations = EQUATION.findall(e["rationale"])
        assert equations, e
        for lhs, rhs in equations:  # every step's arithmetic is right ...
            assert eval(lhs) == float(rhs), (lhs, rhs)
        assert float(equations[-1][1]) == float(e["answer"]), e  # ... and the last step is the answer


def test_known_sets_lists_remote_and_project_sets():
    assert {"wei2022-gsm8k", "cotrepro-arith"} <= set(exemplars.known_sets(REPO))


# --- Wei et al.'s sets read from Self-Verification's and OpenCompass's Python files ------------
# The files are the project's own text in the real layout (tests/support/exemplar_fixtures.py).

WEI_SETS = {"aqua": "wei2022-aqua", "csqa": "wei2022-csqa", "date": "wei2022-date", "strategyqa": "wei2022-strategyqa"}
WEI_COUNTS = {"aqua": 4, "csqa": 7, "date": 6, "strategyqa": 6}


def _fixture_text(set_name: str, **options) -> str:
    from exemplar_fixtures import opencompass_strategyqa, self_verification_utils

    return opencompass_strategyqa() if set_name == "wei2022-strategyqa" else self_verification_utils(**options)


@pytest.mark.parametrize("task", sorted(WEI_SETS))
def test_wei_sets_parse_to_the_papers_counts_and_first_exemplar(task):
    from exemplar_fixtures import FIRST

    name = WEI_SETS[task]
    items = exemplars.REMOTE_SETS[name].read(name, _fixture_text(name))
    assert len(items) == WEI_COUNTS[task]
    assert items[0] == FIRST[task]
    assert all(e["question"] and e["rationale"] and e["answer"] for e in items)


def test_wei_sets_are_the_tasks_defaults_and_the_project_sets_stay_known():
    from cotrepro.data.tasks import TASKS

    assert {t: TASKS[t].exemplars for t in WEI_SETS} == WEI_SETS
    assert {f"cotrepro-{t}" for t in WEI_SETS} <= set(exemplars.known_sets(REPO))


def test_multiple_choice_exemplars_show_choices_as_the_task_records_do():
    """The question's choices line is the one the tasks' loaders write (records.answer_choices)."""
    from exemplar_fixtures import CSQA_OPTIONS

    from cotrepro.data.tasks.records import answer_choices

    items = exemplars.REMOTE_SETS["wei2022-csqa"].read("wei2022-csqa", _fixture_text("wei2022-csqa"))
    assert items[1]["question"] == f"Where would you put object number 2? {answer_choices(CSQA_OPTIONS)}"


def test_wei_exemplars_render_in_the_papers_q_a_format():
    from cotrepro import methods, prompts

    items = exemplars.REMOTE_SETS["wei2022-strategyqa"].read("wei2022-strategyqa", _fixture_text("wei2022-strategyqa"))
    prompt = prompts.build_prompt(methods.get("few_shot_cot"), "Is water wet?", answer_format="yes_no", exemplars=items)
    blocks = prompt.split("\n\n")
    assert blocks[0] == (
        "Q: Could a goldfish read a newspaper?\n"
        "A: Goldfish cannot read. Thus, a goldfish could not read a newspaper. The answer is no."
    )
    assert blocks[4].startswith("Q: Yes or no: Could a snail cross a road in a second?\nA: ")
    assert len(blocks) == 7 and blocks[-1] == "Q: Is water wet?\nA:"
    assert "Question:" not in prompt and "So the answer is" not in prompt


def test_only_the_create_demo_text_branch_of_the_dataset_is_read():
    """Other branches and the verifier function's lists of the same names are not exemplars."""
    from cotrepro.data.exemplar_parsers import parse_demo_text_function

    text = _fixture_text("wei2022-aqua")
    assert [e["answer"] for e in parse_demo_text_function(text, "gsm8k")] == ["3"]
    assert "not an exemplar" not in str(parse_demo_text_function(text, "aqua"))
    with pytest.raises(ValueError, match="no branch for dataset 'svamp'; it has: .*commonsensqa"):
        parse_demo_text_function(text, "svamp")


def test_parsers_never_run_the_file(tmp_path):
    """The files are parsed, not imported: a statement that would write a file when run does not."""
    from cotrepro.data.exemplar_parsers import parse_chat_rounds

    marker = tmp_path / "ran"
    text = f"open({str(marker)!r}, 'w').write('x')\n" + _fixture_text("wei2022-strategyqa")
    assert len(parse_chat_rounds(text, "strategyqa_infer_cfg")) == 6
    assert not marker.exists()


def test_fox_deviation_is_recorded_in_the_sets_manifest(tmp_path):
    source = tmp_path / "utils.py"
    source.write_text(_fixture_text("wei2022-csqa"))
    doc = exemplars.write_exemplar_set("wei2022-csqa", source, tmp_path / "wei2022-csqa.json")
    m = doc["manifest"]
    assert m["repo"] == "WENGSYX/Self-Verification" and m["commit"] == "a7782d82132d1ebce6f4919a9b3dd2a7c53865e0"
    assert m["licence"] == "Apache-2.0" and m["exemplars"] == 7
    assert m["sha256"] == "1924acf3b7ced114c1c64696e2f59b9ad2df37b31a4f631e2c2df703467ed031"
    [fox] = m["deviations"]
    assert (fox["exemplar"], fox["field"], fox["source"], fox["paper"]) == (3, "answer", "C", "B")
    assert doc["exemplars"][2]["answer"] == "C"  # kept as the source has it, not "fixed"
    assert read_json(tmp_path / "wei2022-csqa.json") == doc


def test_a_declared_deviation_the_source_does_not_carry_fails():
    text = _fixture_text("wei2022-csqa", csqa_answers="EBBADBC")
    with pytest.raises(ValueError, match="declared deviation of exemplar 3 .* which says 'B'"):
        exemplars.REMOTE_SETS["wei2022-csqa"].read("wei2022-csqa", text)


def test_a_source_with_another_count_than_the_papers_fails():
    text = _fixture_text("wei2022-csqa", csqa_answers="EBCAD")
    with pytest.raises(ValueError, match="holds 5 exemplars, the paper used 7"):
        exemplars.REMOTE_SETS["wei2022-csqa"].read("wei2022-csqa", text)


def test_unpaired_lists_are_named():
    from cotrepro.data.exemplar_parsers import parse_demo_text_function

    text = _fixture_text("wei2022-aqua").replace("        y.append('A')\n", "", 1)
    with pytest.raises(ValueError, match=r"do not pair up \(x 4, c 4, z 4, y 3\)"):
        parse_demo_text_function(text, "aqua")


@pytest.mark.parametrize("name", sorted(WEI_SETS.values()))
def test_download_rejects_a_file_other_than_the_pinned_one(name, tmp_path):
    """Served the project's fixture in place of the pinned file, the download refuses it by sha256."""
    from exemplar_fixtures import fixture_files
    from servers import StaticServer

    from cotrepro.data.download import ChecksumError, fetch_url

    pinned = exemplars.REMOTE_SETS[name].file
    refused = pytest.raises(ChecksumError, match=f"pinned sha256 is {pinned.sha256}")
    with StaticServer(fixture_files()) as mirror, refused:
        fetch_url(pinned.url(mirror.base_url), tmp_path / pinned.filename, pinned.sha256, retries=0)
    assert not (tmp_path / pinned.filename).exists()
