"""Gated models (meta-llama): a missing, invalid or not-yet-granted HF_TOKEN stops the workflow
before any job with one message that says what to do, checked by real Snakemake dry runs against a
local Hub (tests/support/servers.py) that answers whoami and auth-check as huggingface.co does."""

import os
import subprocess

import pytest
from servers import HubServer, tiny_repo_files
from workflow_helpers import REPO, planned_jobs, snakemake_cmd, write_config

REPO_ID = "meta-llama/Llama-3.2-1B-Instruct"
SPEC = {"repo": REPO_ID, "architecture": "causal", "backend": "scratch", "gated": True}
TOKENS = {"hf_ada_token": "ada", "hf_ben_token": "ben"}  # valid tokens; only ada accepted the licence


@pytest.fixture(scope="module")
def hub():
    repos = {REPO_ID: {"commit": "ab" * 20, "files": tiny_repo_files(), "gated": True, "granted": ["ada"]}}
    with HubServer(repos, tokens=TOKENS) as server:
        yield server


def dry_run(hub, tmp_path, token: str | None, manifest: bool = False) -> subprocess.CompletedProcess:
    """``snakemake -n`` of a config whose one model is the gated Llama, with ``token`` as HF_TOKEN."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = write_config(
        tmp_path / "config.yaml", models=["llama-3.2-1b-instruct"], model_specs={"llama-3.2-1b-instruct": SPEC}
    )
    work = tmp_path / "work"
    if manifest:  # downloaded before: no token needed any more
        (work / "resources/models").mkdir(parents=True)
        (work / "resources/models/llama-3.2-1b-instruct.json").write_text("{}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {"HF_ENDPOINT": hub.base_url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    if token is not None:
        env["HF_TOKEN"] = token
    cmd = snakemake_cmd(REPO, work, config, "--dry-run")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize(
    "token,message",
    [
        (None, f"gated model: {REPO_ID}: gated on the Hugging Face Hub and HF_TOKEN is not set; "),
        ("hf_not_a_token", f"gated model: {REPO_ID}: gated on the Hugging Face Hub and HF_TOKEN is invalid"),
        ("hf_ben_token", f"gated model: {REPO_ID}: HF_TOKEN (user ben) has no access yet; accept the licence at"),
    ],
)
def test_a_bad_token_stops_the_run_before_any_job_with_one_message(hub, tmp_path, token, message):
    proc = dry_run(hub, tmp_path, token)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in out
    assert out.count("gated model:") == 1 and planned_jobs(out) == {} and "Traceback" not in out
    if token is None:
        assert "accept its licence" in out and "export HF_TOKEN=hf_" in out


def test_a_granted_token_plans_the_download_and_a_downloaded_model_needs_none(hub, tmp_path):
    proc = dry_run(hub, tmp_path / "granted", "hf_ada_token")
    assert proc.returncode == 0, proc.stderr
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs["download_model"] == 1 and jobs["generate"] == 1
    whoami = hub.hits("GET", "/api/whoami-v2")
    assert whoami >= 1 and hub.hits("GET", f"/api/models/{REPO_ID}/auth-check") >= 1
    proc = dry_run(hub, tmp_path / "downloaded", None, manifest=True)
    assert proc.returncode == 0, proc.stderr
    assert hub.hits("GET", "/api/whoami-v2") == whoami  # no check once the weights are here
