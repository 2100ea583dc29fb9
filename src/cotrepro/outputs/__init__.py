"""Outputs stage: tables built once as DataFrames, figures, the HTML report, the paper and its transcripts."""

FIGURE_NAMES = ("scaling", "methods", "compute", "failures")
"""The figures the workflow draws (results/figures/{name}.png and .pdf)."""
