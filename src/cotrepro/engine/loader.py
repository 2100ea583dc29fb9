"""The one module that names the backends: each is loaded by its name (config key ``backend``,
``cotrepro generate --backend``); callers see only the :class:`~cotrepro.engine.backend.Backend`
protocol."""

from __future__ import annotations

from cotrepro.engine.backend import Backend

BACKENDS = ("hf", "scratch", "served")
"""``hf``: transformers' model classes and ``generate``; ``scratch``: the from-scratch Llama
(:mod:`cotrepro.engine.scratch.llama`), which runs Llama-architecture models only; ``served``: a
model behind an OpenAI-compatible server (:mod:`cotrepro.engine.served`)."""


def load_backend(name: str, model_dir, architecture: str, *, devices: int = 1, **settings) -> Backend:
    """The backend ``name`` with the model of ``model_dir`` loaded; ``settings`` are the keyword
    arguments both backends take (device, dtype, batch_size, stop, chat_template, max_context).
    ``served`` takes ``served`` (a dict: base_url, served_model, api_key_env, max_concurrency,
    timeout, retries, tokenizer, context_length, server) and stop, chat_template, batch_size and
    max_context; its tokenizer is ``model_dir``'s when none is named and the directory has one."""
    if name == "served":
        from cotrepro.engine.served.backend import served_backend

        return served_backend(model_dir, **settings)
    if name == "hf":
        from cotrepro.engine.hf.backend import HFBackend

        return HFBackend(model_dir, architecture, devices=devices, **settings)
    if name == "scratch":
        from cotrepro.engine.scratch.backend import ScratchBackend

        return ScratchBackend(model_dir, architecture, **settings)  # one device: it spreads over no more
    raise ValueError(f"unknown backend {name!r}; allowed values: {', '.join(BACKENDS)}")
