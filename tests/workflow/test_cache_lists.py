"""Every rule's cache list is true: the library modules a job declares as inputs (``code(...)`` in
rules/*.smk) are exactly those its script imports, directly or through each other, less the
plumbing (cotrepro.code_digest.PLUMBING). Adding an import and forgetting the rule fails here, as
does a rule that declares a module its script no longer uses. Checked on Snakemake's own DAG of the
demo, the calibration run, the full reproduction with its archive, and a rebuild from an archive,
which between them plan every rule."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from archive_fixture import config as archive_config
from archive_fixture import write_archive
from workflow_helpers import REPO

from cotrepro.code_digest import PLUMBING, backend_stops, import_closure
from cotrepro.data.tasks import TASKS

SRC = REPO / "src" / "cotrepro"
DAG_JOBS = REPO / "tests" / "support" / "dag_jobs.py"
TEMPLATE = re.compile(r"get_template\(\"([^\"]+)\"\)")


def planned_jobs(configfile: Path, workdir: Path, *targets: str) -> list[dict]:
    """The jobs of the whole DAG of ``configfile`` (forceall), from Snakemake itself."""
    proc = subprocess.run(
        [sys.executable, str(DAG_JOBS), str(REPO / "Snakefile"), str(configfile), str(workdir), *targets],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("DAG_JOBS ")), None)
    assert line, f"could not plan {configfile}:\n{proc.stderr[-3000:]}"
    return json.loads(line.removeprefix("DAG_JOBS "))


def imported(job: dict) -> set[str]:
    """The library files a job's script really loads: its import closure, the task family module the
    task registry imports by name for a prepare_task job, and the templates the modules load."""
    entries = [Path(job["script"])]
    if job["rule"] == "prepare_task":
        entries.append(SRC / "data" / "tasks" / TASKS[job["wildcards"]["task"]].module)
    # A job that runs a model declares its backend's code only (code_digest.backend_stops); the
    # agreement check the two backends it compares.
    stops = PLUMBING
    if job["rule"] in ("generate", "batch_invariance"):
        stops = backend_stops([job["backend"]])
    elif job["rule"] == "agreement":
        stops = backend_stops(job["agreement_backends"])
    modules = set(import_closure(entries, SRC, stop=stops))
    templates = {
        str(Path(m).parent / name) for m in modules for name in TEMPLATE.findall((SRC / m).read_text(encoding="utf-8"))
    }
    return modules | templates


def declared(job: dict) -> set[str]:
    """The library files a job declares as inputs."""
    return {Path(f).relative_to(SRC).as_posix() for f in job["input"] if Path(f).is_relative_to(SRC)}


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[dict]:
    found = []
    for config in ("demo", "calibrate"):
        found += planned_jobs(REPO / f"config/{config}.yaml", tmp_path_factory.mktemp(config))
    found += planned_jobs(REPO / "config/config.yaml", tmp_path_factory.mktemp("full"), "all", "archive")
    # A model behind a hosted API (source served) plans the served_manifest rule no other config has.
    found += planned_jobs(REPO / "config/hosted-api.example.yaml", tmp_path_factory.mktemp("hosted"))
    # A Hub verifier plans download_verifier, which no shipped config has; offline, the plan's
    # remote-code check leaves it to that job.
    hub_verifier = tmp_path_factory.mktemp("verifier")
    demo = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    demo["verifiers"]["hub-prm"] = {"kind": "prm", "repo": "org/prm", "revision": "ab" * 20, "format": "rlhflow"}
    (hub_verifier / "config.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        found += planned_jobs(hub_verifier / "config.yaml", hub_verifier)
    rebuild = tmp_path_factory.mktemp("rebuild")
    (rebuild / "config.yaml").write_text(yaml.safe_dump(archive_config(write_archive(rebuild))))
    found += planned_jobs(rebuild / "config.yaml", rebuild)
    return [j for j in found if j["script"]]


def test_a_generation_job_declares_its_own_backend_code_only(jobs):
    """Editing the served client reruns no in-process generation, and the transformers engine no served one."""
    generate = {j["wildcards"]["model"]: declared(j) for j in jobs if j["rule"] == "generate"}
    assert (
        "engine/served/client.py" in generate["hosted-model"] and "engine/hf/engine.py" not in generate["hosted-model"]
    )
    assert "engine/hf/engine.py" in generate["tiny-llama"]
    other_backends = ("engine/served/", "generation/served_job.py", "engine/scratch/")
    assert not [m for m in generate["tiny-llama"] if m.startswith(other_backends)]


def test_a_model_behind_a_hosted_api_claims_no_gpu(jobs):
    """A served model at a base_url runs elsewhere; an in-process model of the full config holds its GPU."""
    gpus = {j["wildcards"]["model"]: j["gpu"] for j in jobs if j["rule"] == "generate"}
    assert gpus["hosted-model"] == 0
    assert gpus["flan-t5-small"] == 1 and gpus["zephyr-7b-beta"] == 1


def test_the_dags_plan_every_rule_with_a_script(jobs):
    rules = {j["rule"] for j in jobs}
    smk = "".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    with_scripts = set(re.findall(r"^\s*rule (\w+):(?:(?!^\s*rule ).)*?^\s*script:", smk, re.M | re.S))
    assert with_scripts - rules == set(), "rules the test configs never plan"


def test_every_rule_declares_exactly_the_modules_its_script_imports(jobs):
    wrong = {}
    for job in jobs:
        want, have = imported(job), declared(job)
        if want != have:
            wrong[job["rule"]] = {
                "imported, not declared": sorted(want - have),
                "declared, not imported": sorted(have - want),
            }
    assert wrong == {}
