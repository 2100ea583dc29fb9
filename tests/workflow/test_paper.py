"""The paper and the archive round trip: rebuild scores, figures, report and PDF from a generation
archive with no model and no generation job; the PDF carries the generated numbers."""

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
import yaml
from archive_fixture import MODELS, QUESTIONS, RIGHT, write_archive
from archive_fixture import config as archive_config
from workflow_helpers import AFTER_SCORES, REPO, planned_jobs, run_snakemake

from cotrepro.archive import ArchiveError, check_covers, pack, read_index, restore
from cotrepro.outputs.latex import LatexMissing, ascii_text, build_pdf, tex
from cotrepro.outputs.transcripts import choose
from cotrepro.scoring.significance import compare

ARTIFACTS = REPO / "build" / "test-artifacts"
needs_tex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk and poppler-utils are not installed (make setup installs them)",
)


# --- units -----------------------------------------------------------------------------------


def test_mcnemar_counts_only_discordant_questions():
    a = [{"id": i, "correct_robust": ok} for i, ok in enumerate([1, 1, 1, 1, 1, 1, 0, 0, 1, 0])]
    b = [{"id": i, "correct_robust": ok} for i, ok in enumerate([0, 0, 0, 0, 0, 1, 0, 1, 1, 0])]
    out = compare(a, b, "robust")
    assert (out["only_a"], out["only_b"], out["correct_a"], out["correct_b"]) == (5, 1, 7, 3)
    assert out["p_value"] == pytest.approx(2 * (1 + 6) / 2**6) and not out["significant"]
    with pytest.raises(ValueError, match="same questions"):
        compare(a, b[:-1], "robust")


def test_transcripts_are_chosen_deterministically():
    records = [{"id": f"q{i}", "question": f"question {i}"} for i in range(4)]
    rows = [{"id": f"q{i}", "completion": f"reasoning {i}"} for i in range(4)]
    scores = [{"id": f"q{i}", "correct_robust": i in (2, 3), "pred_robust": str(i), "gold": "2"} for i in range(4)]
    runs = {("m", "t", "zero_shot_cot"): (rows, scores, records), ("m", "t", "few_shot_cot"): (rows, scores, records)}
    picked = choose(["m"], ["t"], runs)
    assert [(t["id"], t["correct"], t["method"]) for t in picked] == [
        ("q2", True, "few_shot_cot"),
        ("q0", False, "few_shot_cot"),
    ]
    assert picked == choose(["m"], ["t"], runs)


def test_tex_escaping_and_ascii_folding():
    assert tex("50% of $3 & #1_a {x}") == r"50\% of \$3 \& \#1\_a \{x\}"
    assert ascii_text("Janet’s 5(√3 + 1) – 45°") == "Janet's 5(sqrt3 + 1) - 45 deg"
    assert ascii_text("a\x12b\tc\nd") == "a<U+0012>b c\nd"


def test_archive_is_deterministic_and_refuses_damage(tmp_path):
    root = tmp_path / "w"
    archive = write_archive(root)
    index = read_index(archive)
    assert len(index["generations"]) == len(MODELS) * 4
    again = pack(tmp_path / "again.tar.gz", [root / m for m in index["files"]], root)
    assert again == index and (tmp_path / "again.tar.gz").read_bytes() == archive.read_bytes()
    with pytest.raises(ArchiveError, match=r"lacks 4 requested generation\(s\) \(first: model-huge/coin_flip/"):
        check_covers(
            index,
            ["model-huge"],
            [("coin_flip", m) for m in ("zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot")],
            "archive.tar.gz",
        )

    # Same index, one member's bytes changed: restoring must refuse it, leaving nothing behind.
    damaged = tmp_path / "damaged.tar.gz"
    with (
        tarfile.open(archive, "r:gz") as src,
        gzip.open(damaged, "wb") as gz,
        tarfile.open(fileobj=gz, mode="w") as dst,
    ):
        for member in src:
            data = src.extractfile(member).read()
            if member.name.endswith("model-small/coin_flip/zero_shot.jsonl"):
                data = data.replace(b'"completion": " ', b'"completion": "  ', 1)
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    out = tmp_path / "restored" / "results/generations/model-small/coin_flip/zero_shot.jsonl"
    with pytest.raises(ArchiveError, match="does not match its sha256"):
        restore(damaged, [out], tmp_path / "restored")
    assert not out.exists()


def test_archive_names_files_by_their_workflow_path_through_linked_folders(tmp_path, monkeypatch):
    # The container links resources/ to its /data volume: members keep their workflow names.
    made = tmp_path / "made"
    archive = write_archive(made)
    work, storage = tmp_path / "work", tmp_path / "volume/resources"
    storage.mkdir(parents=True)
    work.mkdir()
    (work / "resources").symlink_to(storage)
    monkeypatch.chdir(work)
    manifest = Path("resources/models/model-small.json")
    restore(archive, [manifest], Path.cwd())
    assert (storage / "models/model-small.json").read_bytes() == (made / manifest).read_bytes()
    index = pack(tmp_path / "again.tar.gz", [manifest], Path.cwd())
    assert list(index["files"]) == ["resources/models/model-small.json"]


def test_missing_archive_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ArchiveError,
        match=rf"generation archive a/g.tar.gz does not exist \(looked for "
        rf"{tmp_path}/a/g.tar.gz; a relative path is taken from the working",
    ):
        read_index(Path("a/g.tar.gz"))


def test_missing_latexmk_names_the_packages(tmp_path):
    bin_dir = tmp_path / "bin"  # everything on PATH except the TeX tools
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for tool in Path(directory).glob("*") if Path(directory).is_dir() else []:
            if tool.name not in ("latexmk", "pdflatex", "bibtex") and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    old = os.environ["PATH"]
    os.environ["PATH"] = str(bin_dir)
    try:
        with pytest.raises(LatexMissing, match="apt-get install latexmk texlive-latex-recommended"):
            build_pdf(REPO / "paper/main.tex", search_dirs=[], out_pdf=tmp_path / "p.pdf", build_dir=tmp_path / "b")
    finally:
        os.environ["PATH"] = old
    assert not (tmp_path / "p.pdf").exists()


# --- the workflow from an archive --------------------------------------------------------------


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    archive = write_archive(root / "made")
    cfg = root / "from_archive.yaml"
    cfg.write_text(yaml.safe_dump(archive_config(archive)))
    work = root / "work"
    plan = run_snakemake(REPO, work, cfg, "--dry-run")
    run = run_snakemake(REPO, work, cfg, check=False)
    return {
        "work": work,
        "config": cfg,
        "plan": planned_jobs(plan.stdout + plan.stderr),
        "run": run,
        "archive": archive,
    }


def test_archive_rebuild_plans_no_model_and_no_generation(rebuilt):
    plan = rebuilt["plan"]
    assert "generate" not in plan and "download_model" not in plan and "prepare_task" not in plan
    assert plan == {
        "restore_from_archive": 1,
        "extract": 2,  # one a model
        **AFTER_SCORES,
    }, plan


@needs_tex
def test_paper_holds_the_generated_numbers(rebuilt):
    assert rebuilt["run"].returncode == 0, rebuilt["run"].stderr[-3000:]
    work = rebuilt["work"]
    acc = pd.read_csv(work / "results/accuracy.csv")
    robust = acc[acc["style"] == "robust"].set_index(["model", "method"])["accuracy"]
    assert robust[("model-large", "few_shot_cot")] == 100 * RIGHT["model-large", "few_shot_cot"] / QUESTIONS
    pdf = work / "results/paper/paper.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for value in robust:
        assert f"{value:.1f}" in text
    for needle in (
        "Published vs reproduced",
        "Failure analysis",
        "Limitations",
        "PaLM 540B",
        "example/model-large",
        "c0ffee000000",
        "Let's think step by step.",
        "McNemar",
        "(right)",
        "(wrong)",
    ):
        assert needle in text, needle
    sig = pd.read_csv(work / "results/significance.csv")
    row = sig[
        (sig.model == "model-large")
        & (sig.method_a == "few_shot")
        & (sig.method_b == "few_shot_cot")
        & (sig["style"] == "robust")
    ].iloc[0]
    assert (row["only_a"], row["only_b"]) == (0, 6) and bool(row["significant"])

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(ARTIFACTS / "paper-page1")],
        check=True,
    )
    assert (ARTIFACTS / "paper-page1.png").stat().st_size > 10_000


def test_report_shows_paired_tests_transcripts_and_all_figures(rebuilt):
    html = unescape((rebuilt["work"] / "results/report.html").read_text())
    assert "Paired tests" in html and "Example transcripts" in html
    # scaling, methods, compute, failures and flops: no self-consistency method here, so no paths or strategies
    assert html.count("data:image/png;base64,") == 5
    assert "model-large, coin_flip, few-shot CoT (right)" in html


def test_snakemake_report_carries_the_figures_with_captions(rebuilt):
    out = rebuilt["work"] / "snakemake-report.html"
    run_snakemake(REPO, rebuilt["work"], rebuilt["config"], f"--report={out}")
    html = out.read_text()
    assert "Test-time compute" in html and "failures.png" in html and "scaling.png" in html


def test_archive_lacking_a_requested_model_is_refused_before_any_job(rebuilt, tmp_path):
    cfg = archive_config(rebuilt["archive"])
    cfg["models"].append("model-huge")
    cfg["model_specs"]["model-huge"] = {"repo": "example/model-huge", "architecture": "causal"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(REPO, tmp_path / "w", path, check=False)
    assert proc.returncode != 0
    assert "invalid configuration: config key 'from_archive'" in proc.stderr
    assert "lacks 4 requested generation(s) (first: model-huge/coin_flip/zero_shot)" in proc.stderr
    assert not (tmp_path / "w/results").exists()
