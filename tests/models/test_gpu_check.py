"""benchmarks/gpu_check.py on a CPU: ``--device cpu --smoke`` runs every stage, as on a bare GPU
machine where only torch and transformers are installed, and writes each stage's result as soon as
it ends, so that a killed run keeps what it finished and a failed stage does not stop the others."""

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks/gpu_check.py"
sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402 - the benchmark's own folder, put on the path just above


def requirement_closure(roots: tuple[str, ...]) -> set[str]:
    """The installed distributions ``roots`` need, themselves included (extras left out)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement for another platform
        seen.add(name)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def bare_site(folder: Path) -> Path:
    """A folder of links to torch, transformers and what they require, taken from this environment:
    alone on ``sys.path`` (``python -S``), it is a machine where only those two are installed."""
    folder.mkdir()
    for name in requirement_closure(("torch", "transformers")):
        dist = importlib.metadata.distribution(name)
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> tuple[list[str], dict]:
    """The command prefix and environment of a Python that sees only the bare site and the project's
    ``src`` (no site-packages: ``-S``)."""
    site = bare_site(tmp_path_factory.mktemp("bare") / "site")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO / 'src'}"}
    return [sys.executable, "-S", "-s", str(SCRIPT), "--device", "cpu", "--smoke"], env


def read_report(path: Path) -> dict | None:
    """The report as it is on disk now (None before the first write)."""
    return json.loads(path.read_text()) if path.exists() else None


def test_the_bare_site_lacks_the_workflows_packages(bare):
    _, env = bare
    code = "import torch, transformers, tqdm, yaml\ntry:\n import tenacity\nexcept ImportError:\n print('bare')"
    proc = subprocess.run([sys.executable, "-S", "-s", "-c", code], env=env, capture_output=True, text=True)
    assert proc.stdout.strip() == "bare", proc.stderr[-2000:]


def test_smoke_run_writes_every_stage_on_a_bare_machine(bare, tmp_path):
    command, env = bare
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([*command, "--out", str(out)], env=env, capture_output=True, text=True, timeout=1200)
    report = read_report(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report["running"] is None and list(report["stages"]) == list(gpu_check.FULL)
    errors = {name: r["error"] for name, r in report["stages"].items() if "error" in r}
    assert not errors, errors
    stages = report["stages"]
    assert all(stages[name]["ok"] for name in ("placement", "batching", "runner", "oom_backoff", "fp32_agreement"))
    assert stages["placement"]["parameters_device"] == "cpu" and stages["placement"]["parameters_dtype"] == "float32"
    assert set(report["settings"]["methods"]) == {"zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot"}
    comparison = stages["comparison"]
    for name in ("plain_generate", "engine", "engine_as_workflow", "engine_compiled"):
        run = comparison[name]
        assert run["tokens_per_s"] > 0 and 0 < run["fraction_of_bound"] < 1, (name, run)
    assert comparison["auto_batch_size"] == 16  # auto on a CPU
    assert comparison["engine_compiled"]["compiled"] is False  # compiled decoding is CUDA's only
    # fp32: the engine's completions are plain generate's, token for token.
    assert comparison["engine"]["identical_to_plain"] == 1.0
    assert comparison["fp32_identical_to_plain"] == 1.0 and stages["fp32_agreement"]["fp32"]["differing"] == 0


def test_a_killed_run_keeps_the_stages_it_finished(bare, tmp_path):
    """Killed (SIGKILL: no clean-up at all) once its first stage is on disk, the report still parses,
    holds every stage that finished, and names the one that was running."""
    command, env = bare
    out = tmp_path / "gpu_check.json"
    proc = subprocess.Popen([*command, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    try:
        while not ((report := read_report(out)) and report["stages"]) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    report = read_report(out)
    done = list(report["stages"])
    assert done and done == list(gpu_check.FULL[: len(done)])
    assert report["stages"]["environment"]["matmul_flops_per_s"] > 0
    assert report["running"] == gpu_check.FULL[len(done)]


def test_a_failing_stage_is_recorded_and_the_next_one_still_runs(tmp_path):
    """A model shape torch cannot build (a negative width) makes the placement stage fail for real;
    the report on disk has its error, and the stage after it ran."""
    bad = gpu_check.Sizes(dict(gpu_check.SMOKE_SHAPE, hidden_size=-128), 4, 2, (4,), 4, 8, 2)
    ctx = gpu_check.Context("cpu", bad, tmp_path, (), quick=True)
    out = tmp_path / "report.json"
    gpu_check.run_stages(("placement", "environment"), ctx, out, {})
    report = read_report(out)
    assert "error" in report["stages"]["placement"] and "Traceback" in report["stages"]["placement"]["traceback"]
    assert report["stages"]["environment"]["device"] == "cpu" and report["running"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quick", "--methods", "zero_shot"], "--quick does not run that stage"),
        (["--device", "cpu", "--smoke", "--methods", "zero_shot,nope"], "unknown method 'nope'"),
        (["--device", "cpu"], "--device cpu needs --smoke"),
    ],
)
def test_bad_command_lines_get_one_clear_error(argv, message, capsys):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(argv)
    assert message in capsys.readouterr().err


def test_methods_default_to_the_greedy_ones_and_name_sampled_ones_on_request():
    assert gpu_check.parse_args(["--device", "cpu", "--smoke"]).methods == (
        "zero_shot",
        "zero_shot_cot",
        "few_shot",
        "few_shot_cot",
    )
    asked = gpu_check.parse_args(["--device", "cpu", "--smoke", "--methods", "few_shot_cot_sc"]).methods
    assert asked == ("few_shot_cot_sc",)
