"""``cotrepro generate`` refuses bad options and prompt files before it loads a model: one line on
stderr naming what to fix, exit status 2. The model folder holds only a config.json, so a command
that got as far as loading a model would fail otherwise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
GOOD = '{"id": "a", "prompt": "Q: 1 + 1?\\nA:"}\n'


def generate(tmp_path: Path, *args: str, prompts: bytes | None = GOOD.encode(), arch: str = "causal"):
    """Run ``cotrepro generate`` as a subprocess on a weightless Llama folder and the prompt file
    ``prompts`` (None: no file); ``args`` are appended to the command line."""
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    path = tmp_path / "prompts.jsonl"
    if prompts is not None:
        path.write_bytes(prompts)
    cmd = [sys.executable, "-m", "cotrepro.engine.cli", "generate", "--model-dir", str(model)]
    cmd += ["--architecture", arch, "--prompts", str(path), "--out", str(tmp_path / "out.jsonl")]
    cmd += ["--max-new-tokens", "4", *args]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def refused(proc, *needles: str) -> str:
    """The one stderr line of a refused command, checked to hold every needle."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--stop", ""], "argument --stop: a stop sequence cannot be empty"),
        (["--max-new-tokens", "0"], "argument --max-new-tokens: expected a positive integer, got '0'"),
        (["--max-new-tokens", "-5"], "argument --max-new-tokens: expected a positive integer, got '-5'"),
        (["--batch-size", "0"], "argument --batch-size: expected 'auto' or a positive integer"),
        (["--max-concurrency", "0"], "argument --max-concurrency: expected a positive integer"),
    ],
)
def test_bad_options_are_one_line(tmp_path, args, needle):
    refused(generate(tmp_path, *args), needle, "(see cotrepro generate --help)")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("prompts", "needle"),
    [
        (None, "--prompts {tmp}/prompts.jsonl: cannot be read (No such file or directory)"),
        (GOOD.encode() + b'{"id": "b", "prompt": "caf\xe9"}\n', "prompts.jsonl, line 2: not UTF-8 (a byte 0xe9)"),
        (b"\xef\xbb\xbf" + GOOD.encode(), "prompts.jsonl, line 1: starts with a byte-order mark"),
        (b'{"id": ["a"], "prompt": "x"}\n', "line 1: \"id\" must be a string or an integer, not ['a']"),
        (b'{"id": true, "prompt": "x"}\n', 'line 1: "id" must be a string or an integer, not True'),
        (b'{"id": "a", "prompt": ""}\n{"id": "b", "prompt": ""}\n', 'line 1: "prompt" is empty'),
        (b"\n\n", "prompts.jsonl holds no prompts"),
        (GOOD.encode() + b'{"id": "b", "prom', "prompts.jsonl, line 2: not JSON"),
    ],
)
def test_bad_prompt_files_are_one_line_naming_the_line(tmp_path, prompts, needle):
    refused(generate(tmp_path, prompts=prompts), needle.format(tmp=tmp_path))


def test_wrong_architecture_is_one_line_naming_the_right_one(tmp_path):
    line = refused(generate(tmp_path, arch="seq2seq"), "holds a 'llama' model, which is not --architecture seq2seq")
    assert line.endswith("pass --architecture causal")


def test_missing_option_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "cotrepro.engine.cli", "generate", "--out", str(tmp_path / "o.jsonl")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    refused(proc, "the following arguments are required: --prompts, --max-new-tokens")
