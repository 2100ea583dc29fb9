"""cotrepro: reproduce chain-of-thought prompting results with open Hugging Face models."""

__version__ = "0.1.0"

METHODS = ("zero_shot", "zero_shot_cot", "few_shot", "few_shot_cot")
"""The prompting methods, in the order tables and figures show them."""

FIGURE_NAMES = ("scaling", "methods", "compute", "failures")
"""The figures the workflow draws (results/figures/{name}.png and .pdf)."""
