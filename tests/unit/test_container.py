"""The container: hadolint on the Dockerfile, and the image installing exactly what CI installs."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cotrepro.outputs.latex import TEX_PACKAGES

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
MAKEFILE = (REPO / "Makefile").read_text()
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def test_hadolint_passes_with_every_ignored_rule_justified():
    proc = subprocess.run(
        [HADOLINT, "--config", str(REPO / ".hadolint.yaml"), str(REPO / "Dockerfile")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (REPO / ".hadolint.yaml").read_text()
    for rule in yaml.safe_load(text).get("ignored", []):
        # The comment lines just above the rule say why it is ignored.
        before = text.split(f"- {rule}")[0].rstrip().splitlines()
        assert before[-1].lstrip().startswith("#") and rule in "\n".join(before[-6:]), rule


def test_base_image_is_a_pinned_cuda_runtime_by_default():
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.M) == ["${BASE_IMAGE}"]
    (base,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert base.startswith("nvidia/cuda:") and "runtime" in base
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-[a-z0-9.-]+", base) and "latest" not in base


def test_image_installs_what_ci_installs_in_the_same_order():
    make_pip = re.search(r"^PIP_VERSION := (\S+)", MAKEFILE, re.M)[1]
    assert f"pip=={make_pip}" in DOCKERFILE
    order = ["grep '^torch==' requirements.lock", "-r requirements.lock", "--no-deps -e ."]
    for text in (DOCKERFILE, MAKEFILE):
        positions = [text.index(step) for step in order]
        assert positions == sorted(positions), order
    make_tex = re.search(r"^TEX_PACKAGES := (.+)$", MAKEFILE, re.M)[1].split()
    assert set(TEX_PACKAGES.split()) | {"poppler-utils"} == set(make_tex)
    assert all(package in DOCKERFILE for package in make_tex)


def test_image_installs_the_c_compiler_that_torch_compile_needs_on_cuda():
    """The CUDA runtime base has no compiler; Triton (torch.compile, on by default on CUDA) builds its
    launcher as a Python C extension, so the image needs gcc, the C library's headers and Python's.
    tests/container builds one in the image as Triton does."""
    (apt,) = re.findall(r"apt-get install -y --no-install-recommends((?:.|\n)*?)&& rm -rf", DOCKERFILE)
    assert {"gcc", "libc6-dev", "python3.11-dev"} <= set(apt.replace("\\", " ").split())


def test_pip_build_args_are_empty_by_default_and_stay_out_of_the_runtime_environment():
    for name in ("PIP_FIND_LINKS", "PIP_CERT"):
        assert re.search(rf'^ARG {name}=""$', DOCKERFILE, re.M), name
        assert not re.search(rf"^ENV .*{name}", DOCKERFILE, re.M), name


def test_image_runs_the_workflow_as_a_user_with_hf_home_on_the_data_volume():
    assert re.search(r"^USER 1000:1000$", DOCKERFILE, re.M)
    assert 'VOLUME ["/data"]' in DOCKERFILE and "ENV HF_HOME=/data/" in DOCKERFILE
    assert re.search(r"^WORKDIR /home/cotrepro/cotrepro$", DOCKERFILE, re.M)
    assert 'CMD ["snakemake", "--cores", "all"]' in DOCKERFILE
    # What the workflow writes besides results/ goes to the /data volume, not into the image.
    for link, target in ((".snakemake", "snakemake"), ("resources", "resources"), ("logs", "logs")):
        assert f"ln -s /data/{target} {link}" in DOCKERFILE and f"/data/{target}" in DOCKERFILE.split("ENTRYPOINT")[1]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"results/", "resources/", "logs/", ".snakemake/", ".venv/"} <= set(ignored)


def test_conda_environment_pins_the_lock():
    lock = [line for line in (REPO / "requirements.lock").read_text().splitlines() if line and line[0] != "#"]
    env = yaml.safe_load((REPO / "envs/cotrepro.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == lock and "python=3.11" in env["dependencies"]


def test_snakefile_names_the_image_and_the_environment():
    snakefile = (REPO / "Snakefile").read_text()
    assert 'container: config["container_image"]' in snakefile and 'conda: "envs/cotrepro.yaml"' in snakefile
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert schema["properties"]["container_image"]["default"].startswith("docker://")


@pytest.mark.parametrize(
    "line",
    [
        "docker build -t cotrepro:0.1.0 .",
        'docker run --gpus all -v "$PWD/data:/data" -v "$PWD/results:/home/cotrepro/cotrepro/results" cotrepro:0.1.0',
    ],
)
def test_readme_gives_the_container_commands(line):
    assert line in (REPO / "README.md").read_text()
