"""Build a Python C extension the way Triton builds its kernel launcher, and import it.

Run inside the image by tests/container/test_container_image.py (``python
tests/container/launcher_build.py``); prints one JSON line. torch.compile on CUDA runs Triton, and
at the first compiled step Triton compiles a small C file that includes ``Python.h`` into a shared
object (``triton.runtime.build._build``): it takes ``$CC``, else ``gcc``, else ``clang``, and adds
the interpreter's include folder. Where triton is installed (the CUDA image: CUDA torch brings it)
its own ``_build`` is called; where it is not (the CPU image) the same command line is run here.
What this cannot show on a CPU: the launcher's own source (it includes ``cuda.h`` from triton's
wheel) and its link against the driver's ``libcuda``, which a GPU host provides.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

NAME = "cotrepro_launcher_probe"
SOURCE = f"""#include <Python.h>
static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "{NAME}", NULL, -1, NULL}};
PyMODINIT_FUNC PyInit_{NAME}(void) {{ return PyModule_Create(&module); }}
"""


def compiler() -> str | None:
    """The C compiler Triton's ``_build`` picks: ``$CC``, else gcc, else clang."""
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang")


def build_as_triton_does(src: Path, folder: Path) -> Path:
    """The command line of ``triton.runtime.build._build``: ``cc src -O3 -shared -fPIC -o so -I...``."""
    scheme = sysconfig.get_default_scheme()
    scheme = "posix_prefix" if scheme == "posix_local" else scheme  # Debian's custom scheme, as Triton does
    include = sysconfig.get_paths(scheme=scheme)["include"]
    so = folder / f"{NAME}{sysconfig.get_config_var('EXT_SUFFIX')}"
    cc = compiler()
    if cc is None:
        raise SystemExit("no C compiler: Triton's launcher build would fail ('Failed to find C compiler')")
    subprocess.run([cc, str(src), "-O3", "-shared", "-fPIC", "-o", str(so), f"-I{folder}", f"-I{include}"], check=True)
    return so


def main() -> None:
    """Build the extension (with triton's ``_build`` when triton is installed), import it, report."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = folder / f"{NAME}.c"
        src.write_text(SOURCE)
        try:
            from triton.runtime.build import _build
        except ImportError:
            so, how = build_as_triton_does(src, folder), "triton's command line (triton not installed)"
        else:
            so, how = Path(_build(NAME, str(src), str(folder), [], [], [])), "triton.runtime.build._build"
        spec = importlib.util.spec_from_file_location(NAME, so)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(json.dumps({"compiler": compiler(), "built_with": how, "imported": module.__name__}))


if __name__ == "__main__":
    main()
