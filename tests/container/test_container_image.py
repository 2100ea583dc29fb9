"""The image, built and run for real (``make container-test``; skipped by the normal suite).

podman builds the project's Dockerfile on a Debian bookworm base made by debootstrap (no image
registry is needed), with the CPU torch from the machine's wheel directory; then, inside the image:
the offline demo with no network and ``results/`` on a bind mount, as the README's ``docker run``
line does, must score exactly as the same demo on the host; the reviewer's rebuild from a
generation archive made on the host must produce the figures and the paper with no model and no
generation job; the container must run as the image's user and write nothing outside its volumes;
and ``snakemake -n`` with the default config must plan the full reproduction.

What it cannot prove here: the CUDA base image and the CUDA torch (no GPU, no registry). Both
bases run the same Dockerfile lines; only ``FROM`` and the torch build differ. What it shows for
the CUDA path: the image has the C compiler and Python headers that Triton (torch.compile) needs to
build its launcher, by building an extension as Triton does (``launcher_build.py``); not the
launcher itself, which needs triton's ``cuda.h`` and a GPU host's ``libcuda``.

Everything podman keeps (the debootstrapped base, image layers) lives in one cache directory,
``COTREPRO_CONTAINER_CACHE`` (default /var/cache/cotrepro/container): a warm run reuses the base and
the unchanged layers, an empty directory gives a cold run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import pytest
from workflow_helpers import REPO, planned_jobs, run_snakemake

from cotrepro.config import load_config
from cotrepro.plan import run_units


def in_image(test):
    """Mark a test that builds or runs the image: only with --container (conftest.py), and with an
    hour's timeout, since the cold build alone takes about 10 minutes on 2 shared cores."""
    return pytest.mark.container(pytest.mark.timeout(3600)(test))


CACHE = Path(os.environ.get("COTREPRO_CONTAINER_CACHE", "/var/cache/cotrepro/container"))
BASE = "localhost/cotrepro-base:bookworm"
IMAGE = "localhost/cotrepro:container-test"
# The mirror the machine's apt uses (Debian's own by default); debootstrap fetches the base from it.
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
APP = "/home/cotrepro/cotrepro"  # the image's WORKDIR (the Dockerfile's)
UID = 1000  # the image's user (the Dockerfile's USER)
DEMO = ["snakemake", "--cores", "2", "--configfile", "config/demo.yaml"]
TIMINGS: dict[str, float] = {}


def host_pip(option: str) -> str:
    """What the host's pip uses for ``option`` ("find-links", "cert"): its environment variable,
    else its configuration files; "" when unset. The build mounts the same into the image's pip."""
    variable = "PIP_" + option.upper().replace("-", "_")
    if variable in os.environ:
        return os.environ[variable]
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():  # e.g. global.find-links='/opt/wheels'
        key, _, value = line.partition("=")
        if key.endswith(f".{option}"):
            return value.strip("'\"")
    return ""


def podman(*args: str, timeout: int = 1800, check: bool = True) -> subprocess.CompletedProcess:
    """podman on the test's own storage in CACHE (runc: crun refuses hybrid cgroups; no ulimits:
    podman's defaults cannot be set here); on failure, its output in the error."""
    env = {**os.environ, "CONTAINERS_CONF": str(CACHE / "containers.conf")}
    cmd = ["podman", "--root", str(CACHE / "storage"), "--runroot", str(CACHE / "run"), "--runtime", "runc", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        output = f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}")
    return proc


def timed(label: str, fn, *args, **kwargs):
    """Run ``fn`` and record its wall time under ``label`` (printed at the end of the module)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    TIMINGS[label] = time.perf_counter() - t0
    return out


def volume(path: Path) -> Path:
    """A bind-mount source the image's user can write (rootful podman keeps host ownership)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    return path


def tree_files(root: Path, pattern: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root`` matching ``pattern``."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob(pattern)) if p.is_file()}


@pytest.fixture(scope="module")
def image():
    """Build the project's Dockerfile on the debootstrapped base; return the image name."""
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make setup-container` (as root)", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("the container test runs rootful podman and debootstrap: run it as root", pytrace=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")
    rootfs_tar = CACHE / "bookworm-minbase.tar"
    if not rootfs_tar.exists():
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            timed(
                "debootstrap",
                subprocess.run,
                ["debootstrap", "--variant=minbase", "bookworm", f"{tmp}/root", MIRROR],
                check=True,
                capture_output=True,
                timeout=1200,
            )
            subprocess.run(["tar", "-C", f"{tmp}/root", "-cf", f"{rootfs_tar}.part", "."], check=True)
        os.replace(f"{rootfs_tar}.part", rootfs_tar)
    if podman("image", "exists", BASE, check=False).returncode != 0:
        timed("import base", podman, "import", str(rootfs_tar), BASE)
    build = ["build", "--network=host", "--build-arg", f"BASE_IMAGE={BASE}", "-t", IMAGE]
    # The CPU torch (without it pip takes the multi-GB CUDA build) and the CA bundle the host's pip trusts.
    ca_bundle, wheels = host_pip("cert"), [d for d in host_pip("find-links").split() if Path(d).is_dir()]
    if ca_bundle and Path(ca_bundle).is_file():
        build += [
            "-v",
            f"{ca_bundle}:/etc/ssl/certs/host-ca.crt:ro",
            "--build-arg",
            "PIP_CERT=/etc/ssl/certs/host-ca.crt",
        ]
    for i, directory in enumerate(wheels):
        build += ["-v", f"{directory}:/opt/wheels/{i}:ro"]
    if wheels:
        build += ["--build-arg", "PIP_FIND_LINKS=" + " ".join(f"/opt/wheels/{i}" for i in range(len(wheels)))]
    timed("podman build", podman, *build, str(REPO), timeout=3000)
    podman("image", "prune", "--force")  # the previous build's image: the cache keeps only layers in use
    yield IMAGE
    print("\ncontainer test timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in TIMINGS.items()))


def outside_volumes(diff: str, mounts: list[str]) -> list[str]:
    """The lines of ``podman diff`` that are writes outside the volumes.

    Not counted: each volume's mount point and the folders above it (the runtime makes them),
    ``/etc`` itself (the runtime's hosts, hostname and resolv.conf; a file changed in it is
    listed on its own line and counts), and scratch files under ``/tmp`` (the GPU-slot lock folder,
    torch's compile cache), which go with the container.
    """
    allowed = {"/etc", "/tmp"}
    for inside in mounts:
        point = PurePosixPath(inside.split(":")[0])
        allowed |= {str(point), *(str(p) for p in point.parents)}
    changed = [line.split(maxsplit=1) for line in diff.splitlines() if line.strip()]
    return [f"{kind} {path}" for kind, path in changed if path not in allowed and not path.startswith("/tmp/")]


def run_in_image(image: str, name: str, mounts: dict[Path, str], *command: str, timeout: int = 1800) -> list[str]:
    """``podman run`` as the README's docker run line does (no network, host folders bind-mounted),
    keeping the container until its filesystem changes have been listed; return the writes it made
    outside its volumes."""
    args = ["run", "--name", name, "--network=none"]
    for host, inside in mounts.items():
        args += ["-v", f"{host}:{inside}"]
    podman("rm", "--force", "--ignore", name)
    try:
        timed(name, podman, *args, image, *command, timeout=timeout)
        return outside_volumes(podman("diff", name).stdout, [*mounts.values(), "/data"])
    finally:
        podman("rm", "--force", "--ignore", name)


@pytest.fixture(scope="module")
def demos(image, tmp_path_factory):
    """The offline demo on the host and in the image; then the reviewer's archive rebuild in the image."""
    root = tmp_path_factory.mktemp("container")
    host = root / "host"
    timed("host demo", run_snakemake, REPO, host, REPO / "config/demo.yaml", timeout=1800)
    run_snakemake(REPO, host, REPO / "config/demo.yaml", "archive")  # results/archive/generations.tar.gz

    demo = {"results": volume(root / "demo/results"), "data": volume(root / "demo/data")}
    demo_diff = run_in_image(image, "cotrepro-demo", {demo["results"]: f"{APP}/results", demo["data"]: "/data"}, *DEMO)

    archive = root / "archive"
    archive.mkdir()
    shutil.copy2(host / "results/archive/generations.tar.gz", archive)
    rebuild = {"results": volume(root / "rebuild/results"), "data": volume(root / "rebuild/data")}
    mounts = {archive: "/archive:ro", rebuild["results"]: f"{APP}/results", rebuild["data"]: "/data"}
    from_archive = [*DEMO, "--config", "from_archive=/archive/generations.tar.gz"]
    binds = [f"-v={host}:{inside}" for host, inside in mounts.items()]
    plan = podman("run", "--rm", "--network=none", *binds, image, *from_archive, "-n")
    rebuild_diff = run_in_image(image, "cotrepro-rebuild", mounts, *from_archive)
    return {
        "host": host / "results",
        "demo": demo["results"],
        "demo_data": demo["data"],
        "demo_diff": demo_diff,
        "rebuild": rebuild["results"],
        "rebuild_plan": planned_jobs(plan.stdout + plan.stderr),
        "rebuild_diff": rebuild_diff,
    }


def test_only_writes_outside_volumes_count():
    diff = "C /etc\nC /home\nA /home/cotrepro/cotrepro/results\nC /tmp\nA /tmp/torchinductor_cotrepro\n"
    assert outside_volumes(diff, ["/home/cotrepro/cotrepro/results", "/archive:ro"]) == []
    diff += "A /home/cotrepro/cotrepro/logs/x.log\nC /etc/passwd\n"
    assert outside_volumes(diff, ["/home/cotrepro/cotrepro/results"]) == [
        "A /home/cotrepro/cotrepro/logs/x.log",
        "C /etc/passwd",
    ]


@in_image
def test_demo_in_the_image_scores_exactly_as_on_the_host(demos):
    host, inside = tree_files(demos["host"], "scores/**/*.jsonl"), tree_files(demos["demo"], "scores/**/*.jsonl")
    demo = load_config(REPO / "config/demo.yaml", REPO)
    # 2 models x (4 tasks x 4 methods + 2 x 2 sampled + 9 ablation variants on one task)
    units = len(demo["models"]) * len(run_units(demo))
    assert len(host) == units == 58 and sorted(inside) == sorted(host)
    assert [k for k in host if host[k] != inside[k]] == []
    assert (demos["demo"] / "accuracy.csv").read_bytes() == (demos["host"] / "accuracy.csv").read_bytes()
    assert (demos["demo"] / "paper/paper.pdf").read_bytes().startswith(b"%PDF")


@in_image
def test_demo_runs_as_the_image_user_and_writes_only_to_its_volumes(demos):
    assert demos["demo_diff"] == []
    assert (demos["demo"] / "accuracy.csv").stat().st_uid == UID
    # Snakemake's state, the built models' manifests and the logs went to the /data volume.
    data = demos["demo_data"]
    assert (data / "snakemake").is_dir() and any((data / "logs").rglob("*.log"))
    assert any((data / "resources").rglob("*.json"))


@in_image
def test_image_user_is_not_root(image):
    assert podman("run", "--rm", "--network=none", image, "id", "-u").stdout.strip() == str(UID)
    assert podman("run", "--rm", "--network=none", image, "id", "-un").stdout.strip() == "cotrepro"


@in_image
def test_image_has_the_c_compiler_tritons_launcher_build_needs(image):
    """torch.compile (on by default on CUDA) fails at its first compiled step without a C compiler:
    Triton builds its launcher as a Python C extension. In the image the compiler is on PATH, and an
    extension built as Triton builds it (its own ``_build`` where triton is installed) imports."""
    found = podman("run", "--rm", "--network=none", image, "sh", "-c", "command -v cc; command -v gcc").stdout.split()
    assert found == ["/usr/bin/cc", "/usr/bin/gcc"], found
    proc = podman("run", "--rm", "--network=none", image, "python", "tests/container/launcher_build.py")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["compiler"] == "/usr/bin/gcc" and report["imported"] == "cotrepro_launcher_probe", report
    print(f"\nTriton launcher build in the image: {report}")


@in_image
def test_archive_rebuild_in_the_image_makes_paper_and_figures_without_generation(demos):
    plan = demos["rebuild_plan"]
    assert plan.get("restore_from_archive") == 1, plan
    assert not {"generate", "build_tiny_model", "download_model", "prepare_task"} & set(plan), plan
    results = demos["rebuild"]
    assert (results / "paper/paper.pdf").read_bytes().startswith(b"%PDF")
    figures = sorted(p.name for p in (results / "figures").glob("*.png"))
    assert figures and all((results / "figures" / f).stat().st_size > 1000 for f in figures)
    # Rebuilt from the host's generations, the scores are the host's.
    assert (results / "accuracy.csv").read_bytes() == (demos["host"] / "accuracy.csv").read_bytes()
    assert demos["rebuild_diff"] == []


@in_image
def test_default_config_plans_the_full_reproduction_inside_the_image(image, tmp_path):
    inside = podman("run", "--rm", "--network=none", image, "snakemake", "--cores", "2", "-n", timeout=600)
    host = run_snakemake(REPO, tmp_path / "w", REPO / "config/config.yaml", "-n")
    plan = planned_jobs(inside.stdout + inside.stderr)
    assert plan == planned_jobs(host.stdout + host.stderr), plan
    assert plan.get("generate") == 6 and plan.get("download_model") == 6 and plan.get("paper") == 1, plan
