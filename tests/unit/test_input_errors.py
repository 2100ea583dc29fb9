"""Every input error names its file, line and field: task source files, exemplar sets, config
files (a key given twice refused), and JSON-lines outputs read back. Each case is a damaged copy of
a file the project ships, read by the real loader."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cotrepro.config import check_config_files
from cotrepro.data.exemplars import write_exemplar_set
from cotrepro.data.tasks import get_task
from cotrepro.data.tasks.prepare import prepare_records
from cotrepro.errors import ConfigError
from cotrepro.io import InputFileError, read_jsonl

REPO = Path(__file__).resolve().parents[2]
ARITH = (REPO / "config/datasets/arith_demo.jsonl").read_bytes()
LINES = ARITH.split(b"\n")


def prepare(tmp_path: Path, data: bytes):
    """prepare_records of the arith_demo task on ``data`` as its source file."""
    src = tmp_path / "arith_demo.jsonl"
    src.write_bytes(data)
    return prepare_records(
        get_task("arith_demo"),
        [src],
        params={},
        records_path=tmp_path / "out.jsonl",
        provenance_path=tmp_path / "out.json",
    )


def with_line(n: int, text: bytes) -> bytes:
    """The arith_demo file with its line ``n`` (from 1) replaced by ``text``."""
    return b"\n".join([*LINES[: n - 1], text, *LINES[n:]])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_line(3, LINES[2][:60]), r"arith_demo.jsonl, line 3: not JSON \(.*a torn line\?\)"),
        (with_line(4, LINES[3][:20] + b"\xe4" + LINES[3][20:]), r"arith_demo.jsonl, line 4: not UTF-8 \(a byte 0xe4\)"),
        (b"\xef\xbb\xbf" + ARITH, r"arith_demo.jsonl, line 1: starts with a byte-order mark"),
        (with_line(5, b'{"question": "How many?"}'), r"arith_demo.jsonl, line 5: field 'answer' is missing"),
        (with_line(2, b'{"question": "Sum?", "answer": "no final"}'), r"arith_demo.jsonl, line 2: field 'answer': "),
        (
            with_line(6, b'{"question": "  ", "answer": "#### 4"}'),
            r"record arith_demo-0005 \(the 6th of .*\) has an empty 'question'",
        ),
        (
            with_line(1, b'{"question": "Sum?", "answer": "####  "}'),
            r"record arith_demo-0000 \(the 1st of .*\) has an empty 'answer'",
        ),
    ],
)
def test_damaged_task_file_names_file_line_and_field(tmp_path, data, message):
    with pytest.raises(ValueError, match=message):
        prepare(tmp_path, data)
    assert not (tmp_path / "out.jsonl").exists()


def test_the_shipped_task_file_still_prepares(tmp_path):
    assert len(prepare(tmp_path, ARITH)) == 20


SET = (REPO / "config/exemplars/cotrepro-arith.yaml").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("rationale:", "answer: 1\n    rationale:", 1),
            r"line \d+: not valid YAML \(key 'answer' appears twice",
        ),
        (lambda t: re.sub(r"\n\s*rationale:[^\n]*", "", t, count=1), r"line \d+: exemplar 1 lacks rationale"),
        (lambda t: re.sub(r"answer: [^\n]*", 'answer: ""', t, count=1), r"line \d+: exemplar 1 has an empty 'answer'"),
        (lambda t: t.replace("exemplars:", "exemplars: [", 1), r"line \d+: not valid YAML"),
    ],
)
def test_damaged_exemplar_set_names_file_line_and_field(tmp_path, edit, message):
    changed = edit(SET)
    assert changed != SET
    src = tmp_path / "cotrepro-arith.yaml"
    src.write_text(changed)
    with pytest.raises(ValueError, match=re.escape(str(src)) + ", " + message):
        write_exemplar_set("cotrepro-arith", src, tmp_path / "out.json")


def test_exemplar_line_numbers_point_at_the_exemplar(tmp_path):
    src = tmp_path / "cotrepro-arith.yaml"
    src.write_text(SET.replace('answer: "156"', 'answer: " "'))
    second = next(i for i, line in enumerate(SET.splitlines(), 1) if "52 cards" in line)
    with pytest.raises(ValueError, match=rf", line {second}: exemplar 2 has an empty 'answer'$"):
        write_exemplar_set("cotrepro-arith", src, tmp_path / "out.json")


def test_config_file_with_a_key_twice_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("demo: true\nlimit: 3\nmodels: [a]\nlimit: 4\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}, line 4: not valid YAML \(key 'limit' appears twice"
    ):
        check_config_files([path])
    check_config_files(sorted((REPO / "config").glob("*.yaml")))  # the shipped ones are clean


def test_a_config_file_snakemake_refuses_unnamed_is_named_by_the_checker(tmp_path):
    # Snakemake reads --configfile before any workflow code and says only "Config file is not
    # valid JSON or YAML"; the project's checker names the file and the line.
    bad = tmp_path / "bad.yaml"
    bad.write_text("demo: true\nmodels: [tiny-t5\ntasks: [arith_demo]\n")
    run = subprocess.run(
        [sys.executable, "-m", "cotrepro.config", str(bad), str(REPO / "config" / "demo.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert run.returncode == 2
    assert run.stderr.strip() == f"{bad}, line 3: not valid YAML (expected ',' or ']', but got ':')"
    assert run.stdout.strip() == f"{REPO / 'config' / 'demo.yaml'}: valid YAML, no key given twice"


def test_torn_jsonl_output_names_file_and_line(tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b", "pred')
    with pytest.raises(InputFileError, match=rf"^{re.escape(str(path))}, line 3: not JSON"):
        read_jsonl(path)
