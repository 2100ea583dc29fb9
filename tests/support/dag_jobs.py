"""Print, as JSON, every job of a workflow's whole DAG (as ``snakemake --forceall`` would plan it):
its rule, its script (an absolute path, or null), its input files, the GPUs it claims, its model's
backend and the agreement check's backends. Run as a script:
``python dag_jobs.py SNAKEFILE CONFIGFILE WORKDIR [TARGET ...]``; Snakemake's own DAG, not a parse of
its output."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings, StorageSettings


def dag_jobs(snakefile: Path, configfile: Path, workdir: Path, targets: list[str]) -> list[dict]:
    """The jobs of the whole DAG (forceall) of ``targets`` (none: the default target), each with its
    rule, script and input files."""
    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[configfile]),
            storage_settings=StorageSettings(),
            snakefile=snakefile,
            workdir=workdir,
        )
        workflow_api.dag(DAGSettings(forceall=True, targets=set(targets)))
        # The DAG API has no public accessor for the planned jobs; build the DAG as `--dry-run` does.
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        specs = workflow.config["model_specs"]
        return [
            {
                "rule": job.rule.name,
                "script": str((Path(job.rule.snakefile).parent / job.rule.script).resolve())
                if job.rule.script
                else None,
                "input": [str(Path(workdir, f).resolve()) for f in job.input],
                "wildcards": dict(job.wildcards_dict),
                "gpu": job.resources.get("gpu"),
                "backend": specs.get(job.wildcards_dict.get("model"), {}).get("backend"),
                "agreement_backends": (workflow.config.get("agreement") or {}).get("backends"),
            }
            for job in workflow.dag.jobs
        ]


if __name__ == "__main__":
    snakefile, configfile, workdir = (Path(a).resolve() for a in sys.argv[1:4])
    jobs = dag_jobs(snakefile, configfile, workdir, sys.argv[4:])
    sys.stdout.flush()
    print("DAG_JOBS " + json.dumps(jobs))
