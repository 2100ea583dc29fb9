"""cotrepro: reproduce chain-of-thought prompting results with open Hugging Face models."""

__version__ = "0.1.0"
