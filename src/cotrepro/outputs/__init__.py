"""Outputs stage: tables built once as DataFrames, figures, the HTML report, the paper and its transcripts."""

FIGURE_NAMES = ("scaling", "methods", "compute", "failures", "paths", "strategies", "flops")
"""The figures the workflow can draw (results/figures/{name}.png and .pdf)."""


def figure_names(method_keys) -> list[str]:
    """The figures a run draws: all but accuracy against sampled paths and the choosers' (strategies),
    which need a self-consistency method among ``method_keys``."""
    from cotrepro import methods

    sampled = any(methods.get(m).samples for m in method_keys)
    return [n for n in FIGURE_NAMES if n not in ("paths", "strategies") or sampled]
