"""The one loader of a run's outputs that the report and the paper read, and the import hygiene of
the table code (no plotting library behind a table)."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from cotrepro.io import write_json
from cotrepro.outputs.loader import RunOutputs

SRC = Path(__file__).resolve().parents[2] / "src"


def _meta(method, **extra):
    return {"model": {"slug": "m"}, "task": {"key": "t"}, "method": method, **extra}


@pytest.fixture
def run_files(tmp_path):
    pd.DataFrame([{"model": "m", "style": "robust"}, {"model": "m", "style": "kojima"}]).to_csv(
        tmp_path / "accuracy.csv", index=False
    )
    pd.DataFrame([{"task": "t", "accuracy": 50.0}]).to_csv(tmp_path / "published.csv", index=False)
    pd.DataFrame([{"model": "m", "n": 3}]).to_csv(tmp_path / "batch_invariance.csv", index=False)
    write_json(tmp_path / "zero_shot.meta.json", _meta("zero_shot"))
    write_json(tmp_path / "few_shot@chat.meta.json", _meta("few_shot@chat", not_applicable="no chat template"))
    write_json(tmp_path / "transcripts.json", [{"model": "m"}])
    return tmp_path


def test_from_snakemake_reads_the_inputs_a_rule_declares_and_leaves_the_rest_absent(run_files):
    d = run_files
    # As the paper's rule names them: no manifests, figures or agreement; calibration and batch
    # invariance are lists of at most one file, here one empty and one not.
    inputs = SimpleNamespace(
        accuracy=str(d / "accuracy.csv"),
        published=str(d / "published.csv"),
        meta=[str(d / "zero_shot.meta.json"), str(d / "few_shot@chat.meta.json")],
        tasks=[],
        transcripts=str(d / "transcripts.json"),
        calibration=[],
        batch_invariance=[str(d / "batch_invariance.csv")],
    )
    run = RunOutputs.from_snakemake(inputs, SimpleNamespace(demo=True, notes={"m": "a note"}))
    assert [m["method"] for m in run.metas] == ["zero_shot"]
    assert [m["method"] for m in run.not_applicable] == ["few_shot@chat"]
    assert [m["method"] for m in run.every_meta] == ["zero_shot", "few_shot@chat"]
    assert run.transcripts == [{"model": "m"}] and run.batch_invariance["n"].tolist() == [3]
    assert run.calibration is None and run.significance is None and run.disagreements is None
    assert run.manifests == [] and run.figures == [] and run.agreement == [] and run.tasks == []
    assert run.demo and run.model_notes == {"m": "a note"}
    assert run.robust()["style"].tolist() == ["robust"]


def test_a_named_input_of_several_files_is_refused_where_one_is_read(run_files):
    inputs = SimpleNamespace(accuracy=[str(run_files / "accuracy.csv")] * 2, published=str(run_files / "published.csv"))
    with pytest.raises(ValueError, match="input 'accuracy' names 2 files"):
        RunOutputs.from_snakemake(inputs, SimpleNamespace(demo=False, notes={}))


def test_building_a_table_imports_no_plotting_library():
    code = "import sys, cotrepro.outputs.tables, cotrepro.outputs.ablations; assert 'matplotlib' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
