"""Snakemake script: results/accuracy.csv, the paths curves and results/selection.csv -> figures (PNG and PDF)."""

from pathlib import Path

import pandas as pd

from cotrepro.joblog import log_to
from cotrepro.outputs.plots import draw_figures
from cotrepro.outputs.strategies import read_selection

log_to(snakemake.log[0])
draw_figures(
    pd.read_csv(snakemake.input.accuracy),
    [Path(p) for p in snakemake.output],
    published=pd.read_csv(snakemake.input.published),
    paths=pd.read_csv(snakemake.input.paths),
    selection=read_selection(snakemake.input.selection),
)
