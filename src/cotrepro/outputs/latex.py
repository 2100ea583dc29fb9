"""Building the paper: latexmk over paper/main.tex with the generated fragments and figures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from cotrepro.io import atomic_write_bytes

TEX_PACKAGES = "latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern"
"""The Debian packages the build needs (README, Makefile and .ci/run install these)."""


class LatexMissing(RuntimeError):
    """latexmk (or pdflatex) is not installed."""


def build_pdf(main_tex: Path, *, search_dirs: list[Path], out_pdf: Path, build_dir: Path, timeout: int = 600) -> Path:
    """Compile ``main_tex`` with latexmk, finding ``\\input`` files and figures in ``search_dirs``.

    The PDF is reproducible (fixed dates via SOURCE_DATE_EPOCH) and written atomically to
    ``out_pdf``. A missing latexmk fails with a message naming the packages to install; a LaTeX
    error fails with the end of the log.
    """
    for tool in ("latexmk", "pdflatex", "bibtex"):
        if shutil.which(tool) is None:
            raise LatexMissing(
                f"{tool} is not installed; the paper needs the Debian packages {TEX_PACKAGES} "
                f"(sudo apt-get install {TEX_PACKAGES}). Everything else builds without them."
            )
    main_tex, build_dir = Path(main_tex).resolve(), Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    # A trailing separator keeps TeX's default search path after ours.
    path = os.pathsep.join(str(Path(d).resolve()) for d in [main_tex.parent, *search_dirs]) + os.pathsep
    env = {**os.environ, "TEXINPUTS": path, "BIBINPUTS": path, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    cmd = [
        "latexmk",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        f"-outdir={build_dir}",
        main_tex.name,
    ]
    proc = subprocess.run(cmd, cwd=main_tex.parent, env=env, capture_output=True, text=True, timeout=timeout)
    pdf = build_dir / (main_tex.stem + ".pdf")
    if proc.returncode != 0 or not pdf.is_file():
        log = build_dir / (main_tex.stem + ".log")
        tail = log.read_text(errors="replace")[-4000:] if log.is_file() else proc.stdout[-4000:]
        raise RuntimeError(f"latexmk failed ({proc.returncode}) on {main_tex}:\n{tail}")
    atomic_write_bytes(Path(out_pdf), pdf.read_bytes())
    return Path(out_pdf)
