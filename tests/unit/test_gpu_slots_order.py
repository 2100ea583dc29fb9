"""GPU slots against a faked ``nvidia-smi``: a script on PATH that answers ``-L`` and ``--query-gpu``
from a canned table, as the real one does. The slots must be numbered as CUDA numbers the devices
in the job (PCI bus order, which the job sets), and MIG instances must be refused with one message."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cotrepro.generation.gpu_slots import UnsupportedGPUs, nvidia_smi_gpus, visible_devices

# Two GPUs whose nvidia-smi indices do not follow their PCI bus ids: CUDA's PCI order puts index 1 first.
GPUS = [
    {"index": "0", "pci.bus_id": "00000000:86:00.0", "uuid": "GPU-aaaa", "name": "NVIDIA H100"},
    {"index": "1", "pci.bus_id": "00000000:18:00.0", "uuid": "GPU-bbbb", "name": "NVIDIA A100"},
]
MIG_LINE = "  MIG 1g.10gb     Device  0: (UUID: MIG-1c2d3e4f-0000-1111-2222-333344445555)"


def fake_nvidia_smi(folder, gpus, mig_lines=()):
    """Write an executable ``nvidia-smi`` into ``folder`` that lists ``gpus`` (``-L``, with
    ``mig_lines`` under the first) and answers ``--query-gpu=a,b --format=csv,noheader``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(f"""
            import sys
            gpus, mig = {json.dumps(gpus)}, {json.dumps(list(mig_lines))}
            args = sys.argv[1:]
            if args == ["-L"]:
                for i, g in enumerate(gpus):
                    print(f"GPU {{g['index']}}: {{g['name']}} (UUID: {{g['uuid']}})")
                    if i == 0:
                        print("\\n".join(mig))
            elif args and args[0].startswith("--query-gpu="):
                fields = args[0].split("=", 1)[1].split(",")
                for g in gpus:
                    print(", ".join(g[f] for f in fields))
            else:
                sys.exit(f"fake nvidia-smi: unexpected arguments {{args}}")
        """)
    )
    script.chmod(0o755)
    return folder


@pytest.fixture
def smi_path(tmp_path, monkeypatch):
    """PATH holding only the fake nvidia-smi of :data:`GPUS`; no CUDA variables set."""
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "bin", GPUS)))
    for name in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "bin"


def test_gpus_are_numbered_by_pci_bus_id_as_cuda_numbers_them_in_pci_order(smi_path):
    assert nvidia_smi_gpus() == {"0": ("1", "00000000:18:00.0"), "1": ("0", "00000000:86:00.0")}
    assert visible_devices({}) == ["0", "1"]


def test_a_job_makes_cuda_number_the_devices_in_pci_bus_order(smi_path, tmp_path):
    """In a fresh process, as a generation job: the claimed slot is what CUDA will be shown, under
    PCI bus order, and the log names it as nvidia-smi does."""
    code = textwrap.dedent("""
        import json, os
        from cotrepro.generation.gpu_slots import job_devices
        with job_devices(1) as slots:
            print(json.dumps({k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")}))
    """)
    env = {**os.environ, "COTREPRO_GPU_LOCK_DIR": str(tmp_path / "locks")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    log, environment = proc.stdout.splitlines()
    assert json.loads(environment) == {"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert "slot 0: nvidia-smi GPU 1, PCI 00000000:18:00.0" in log, log


def test_mig_instances_listed_by_nvidia_smi_are_refused_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "bin", GPUS, [MIG_LINE])))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(UnsupportedGPUs, match=r"(?s)lists MIG instances.*MIG 1g\.10gb.*nvidia-smi -i N -mig 0"):
        visible_devices()


def test_mig_instances_in_cuda_visible_devices_are_refused():
    with pytest.raises(UnsupportedGPUs, match=r"CUDA_VISIBLE_DEVICES=MIG-1c2d names MIG instances.*whole GPUs"):
        visible_devices({"CUDA_VISIBLE_DEVICES": "MIG-1c2d"})


def test_another_device_order_is_refused_where_the_slots_are_numbers(smi_path):
    with pytest.raises(UnsupportedGPUs, match="CUDA_DEVICE_ORDER=FASTEST_FIRST.*unset it"):
        visible_devices({"CUDA_DEVICE_ORDER": "FASTEST_FIRST"})
    with pytest.raises(UnsupportedGPUs, match="CUDA_DEVICE_ORDER=FASTEST_FIRST"):
        visible_devices({"CUDA_DEVICE_ORDER": "FASTEST_FIRST", "CUDA_VISIBLE_DEVICES": "0,1"})
    # UUIDs name the same GPU in any order.
    environ = {"CUDA_DEVICE_ORDER": "FASTEST_FIRST", "CUDA_VISIBLE_DEVICES": "GPU-aaaa"}
    assert visible_devices(environ) == ["GPU-aaaa"]


def test_without_nvidia_smi_no_gpu_is_visible(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert visible_devices({}) == []
