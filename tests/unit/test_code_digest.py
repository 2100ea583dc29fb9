"""The code digest in every row's key: it survives docstring edits, reformatting and moves, and
changes with prompt text and engine numerics (cotrepro.code_digest)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cotrepro.code_digest import code_digest, output_shaping, package_root

ROOT = package_root()
REPO = ROOT.parents[1]
BEFORE_MOVES, AFTER_MOVES = "5caf46b", "84a7036"
"""main just before and just after issue 21's moves (engine/, checks/, models/published.py), both
with the digest in place."""


@pytest.fixture
def tree(tmp_path) -> Path:
    """A private copy of the cotrepro package, to edit."""
    dest = tmp_path / "cotrepro"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace ``old`` by ``new`` in ``path`` (it must be there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def shaping_file(tree: Path, defines: str) -> Path:
    """The output-shaping module that defines ``defines`` (a function, class or constant), wherever it sits."""
    pattern = re.compile(rf"^(def |class |){re.escape(defines)}\b", re.M)
    found = [tree / m for m in output_shaping(tree) if pattern.search((tree / m).read_text(encoding="utf-8"))]
    assert len(found) == 1, f"{defines} is defined in {found}"
    return found[0]


def test_a_copy_of_the_tree_has_the_installed_digest(tree):
    assert code_digest(tree) == code_digest(ROOT)


def test_docstring_and_comment_edits_change_no_key(tree):
    before = code_digest(tree)
    engine = shaping_file(tree, "common_prefix")
    edit(engine, '"""', '"""A rewritten module docstring. ')
    edit(engine, "    if not inputs:\n", "    # a new comment\n    if not inputs:\n")
    runner = shaping_file(tree, "run_generation")
    edit(runner, '"""Generate every record', '"""Generate, resumably, every record')
    assert code_digest(tree) == before


def test_reformatting_changes_no_key(tree):
    before = code_digest(tree)
    files = [str(tree / m) for m in output_shaping(tree)]
    subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--no-cache", "--isolated", "--line-length", "60", *files],
        check=True,
        capture_output=True,
    )
    assert any(Path(f).read_text() != (ROOT / Path(f).relative_to(tree)).read_text() for f in files)
    assert code_digest(tree) == before


def test_a_function_moved_to_a_new_module_changes_no_key(tree):
    before = code_digest(tree)
    home = shaping_file(tree, "cut_at_stop")
    text = home.read_text(encoding="utf-8")
    start = text.index("def cut_at_stop(")
    end = text.index("\ndef ", start + 1)
    (home.parent / "stops.py").write_text(
        "from collections.abc import Sequence\n\n\n" + text[start:end], encoding="utf-8"
    )
    package = ".".join(["cotrepro", *home.relative_to(tree).parent.parts])
    home.write_text(text[:start] + text[end:] + f"\nfrom {package}.stops import cut_at_stop\n", encoding="utf-8")
    assert "stops.py" in {Path(m).name for m in output_shaping(tree)}
    assert code_digest(tree) == before


def test_labels_and_plumbing_change_no_key(tree):
    before = code_digest(tree)
    edit(tree / "methods.py", '"few-shot CoT"', '"few-shot chain of thought"')
    edit(tree / "io.py", "_CHUNK = 1 << 20", "_CHUNK = 1 << 16")
    assert code_digest(tree) == before


@pytest.mark.parametrize(
    ("defines", "old", "new"),
    [
        ("COT_TRIGGER", 'COT_TRIGGER = "Let\'s think step by step."', 'COT_TRIGGER = "Let us think step by step."'),
        ("STAGE2_JOIN", 'STAGE2_JOIN = " \\n"', 'STAGE2_JOIN = "\\n"'),
        ("exemplar_block", "{exemplar['rationale']} {answer}", "{exemplar['rationale']}\\n{answer}"),
        ("_CACHE_BUCKET", "_CACHE_BUCKET = 256", "_CACHE_BUCKET = 128"),
        ("PathSampler", "torch.log_softmax(scores.float(), dim=-1)", "torch.log_softmax(scores, dim=-1)"),
        ("row_completion", "first_eos + 1", "first_eos"),
    ],
)
def test_prompt_text_and_engine_numerics_change_the_key(tree, defines, old, new):
    before = code_digest(tree)
    edit(shaping_file(tree, defines), old, new)
    assert code_digest(tree) != before


def _git(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, **kw)


def _tree_at(commit: str, dest: Path) -> Path:
    """The cotrepro package as it was at ``commit``, extracted under ``dest``."""
    dest.mkdir()
    tar = _git("archive", commit, "src/cotrepro", check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest / "src" / "cotrepro"


def test_the_moves_into_engine_checks_and_models_changed_no_key(tmp_path):
    """The trees just before and just after the moves, from git, have the same digest."""
    if _git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout: the trees before and after the moves are not here")
    if _git("rev-parse", "--is-shallow-repository", text=True).stdout.strip() == "true":
        pytest.skip("a shallow clone: the trees before and after the moves are not here")
    before, after = (_tree_at(commit, tmp_path / commit) for commit in (BEFORE_MOVES, AFTER_MOVES))
    assert (before / "generation" / "hf.py").is_file() and not (before / "engine").exists()
    assert "generation/engine.py" in output_shaping(before) and "engine/hf/engine.py" in output_shaping(after)
    assert code_digest(before) == code_digest(after)


def test_each_backend_keys_its_own_code_only(tree):
    """Editing the served client changes the served rows' key and no in-process row's; editing the
    transformers engine changes the hf rows' key and no served or from-scratch row's."""
    before = {b: code_digest(tree, backend=b) for b in ("hf", "scratch", "served")}
    assert not any("served" in m for m in output_shaping(tree, "hf") + output_shaping(tree, "scratch"))
    assert not any(m.startswith("engine/hf/") for m in output_shaping(tree, "served"))
    edit(shaping_file(tree, "_MAX_WAIT"), "_MAX_WAIT = 120.0", "_MAX_WAIT = 60.0")
    after_served = {b: code_digest(tree, backend=b) for b in before}
    assert after_served["served"] != before["served"]
    assert after_served["hf"] == before["hf"] and after_served["scratch"] == before["scratch"]
    edit(shaping_file(tree, "_CACHE_BUCKET"), "_CACHE_BUCKET = 256", "_CACHE_BUCKET = 128")
    after_hf = {b: code_digest(tree, backend=b) for b in before}
    assert after_hf["hf"] != after_served["hf"]
    assert after_hf["served"] == after_served["served"] and after_hf["scratch"] == after_served["scratch"]


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown backend 'vllm'"):
        output_shaping(backend="vllm")
