"""Hugging Face transformers backend: loads a seq2seq or causal LM from a local directory (its
tokenizer and prompt formatting come from :mod:`cotrepro.engine.tokens`) and hands token ids to
the decoding engine (:mod:`cotrepro.engine.hf.engine`: shared prefix, static cache, stops on the
device, batch sizing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

from cotrepro.engine.completion import Completion
from cotrepro.engine.hf.engine import Engine
from cotrepro.engine.sampling import Sampling
from cotrepro.engine.tokens import TokenizedBackend


class HFBackend(TokenizedBackend):
    """A transformers model and tokenizer loaded from a local directory (safetensors only)."""

    def __init__(
        self,
        model_dir: Path,
        architecture: str,
        *,
        devices: int = 1,
        cache: str = "static",
        share_prefixes: bool = True,
        compile: bool = True,
        compile_backend: str | None = None,
        **settings,
    ):
        """``compile``/``compile_backend``: as :class:`Engine` takes them; ``settings``: those of
        :class:`TokenizedBackend` (device, dtype, batch_size, stop, chat_template, max_context)."""
        super().__init__(model_dir, **settings)
        self.architecture = architecture
        model_class = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM}.get(architecture)
        if model_class is None:
            raise ValueError(f"unknown architecture {architecture!r}; allowed values: seq2seq, causal")
        # A model given several GPUs is spread across them layer by layer (accelerate's device_map);
        # inputs then go to the device holding the embeddings.
        self.spread = self.device.type == "cuda" and devices > 1 and torch.cuda.device_count() > 1
        self.model = model_class.from_pretrained(
            model_dir,
            dtype=self.dtype,
            use_safetensors=True,
            trust_remote_code=False,
            **({"device_map": "auto"} if self.spread else {}),
        )
        if self.spread:
            self.device = self.model.get_input_embeddings().weight.device
        else:
            self.model.to(self.device)
        self.model.eval()
        self.context_length = self.context_from(self.model.config)
        self.guard_memory(self.model.config.to_dict())
        self.engine = Engine(
            self.model,
            self.tokenizer,
            architecture,
            stop=self.stop,
            batch_size=self.sizer,
            cache=cache,
            share_prefixes=share_prefixes,
            compile=compile,
            compile_backend=compile_backend,
        )

    def engine_description(self) -> dict:
        """How the engine decodes (:meth:`Engine.describe`)."""
        return self.engine.describe()

    def prepare(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """Get ready for a unit's inputs: share their common prefix and, for ``batch_size: auto`` on a
        GPU, probe the batch size at the longest of them."""
        self.engine.prepare(inputs, max_new_tokens)

    def generate(self, inputs: Sequence[str] | Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations, in input order, of token ids from :meth:`encode` (or of texts, encoded here)."""
        return self.engine.generate(self.ids_of(inputs), max_new_tokens)

    def sample(
        self, inputs: Sequence[Sequence[int]], names: Sequence[str], max_new_tokens: int, sampling: Sampling
    ) -> list[list[Completion]]:
        """``sampling.paths`` sampled continuations of each input's token ids, path j of input
        ``names[i]`` seeded by (seed, name, j)."""
        return self.engine.sample(inputs, names, max_new_tokens, sampling)
