"""Snakemake script: the paper's PDF, built by latexmk from paper/main.tex, the fragments and the figures."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.outputs.latex import build_pdf

log_to(snakemake.log[0])
i, out = snakemake.input, Path(snakemake.output.pdf)
figures = sorted({Path(p).parent for p in i.figures})
build_pdf(Path(i.main), search_dirs=[Path(i.fragments), *figures], out_pdf=out, build_dir=out.parent / "build")
