"""The from-scratch backend: Llama in plain PyTorch (:mod:`cotrepro.engine.scratch.llama`) behind the
backend protocol, the independent forward pass the transformers backend is checked against."""
