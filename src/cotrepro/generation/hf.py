"""Hugging Face transformers backend: loads a seq2seq or causal LM and its tokenizer from a local
directory, formats and tokenizes prompts, and hands token ids to the decoding engine
(:mod:`cotrepro.generation.engine`: shared prefix, static cache, stops on the device, batch sizing).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from cotrepro.generation.backend import Completion
from cotrepro.generation.engine import Engine
from cotrepro.generation.sampling import Sampling

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("generation.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bfloat16 on CUDA, float32 on CPU (half precision is slow or unsupported there)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[dtype]


def context_length(config, tokenizer) -> int | None:
    """The model's context in tokens, from its config (or the tokenizer's limit); None when unknown."""
    for key in _CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 10**6 else None


class HFBackend:
    """A transformers model and tokenizer loaded from a local directory (safetensors only)."""

    def __init__(
        self,
        model_dir: Path,
        architecture: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | str = "auto",
        stop: Sequence[str] = ("Q:",),
        chat_template: bool = False,
        max_context: int | None = None,
        devices: int = 1,
        cache: str = "static",
        share_prefixes: bool = True,
        compile: bool = True,
    ):
        self.architecture = architecture
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.stop = tuple(stop)
        self.chat_template = chat_template
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        model_class = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM}.get(architecture)
        if model_class is None:
            raise ValueError(f"unknown architecture {architecture!r}; allowed values: seq2seq, causal")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if chat_template and not self.tokenizer.chat_template:
            raise ValueError(f"chat_template is on but the tokenizer in {model_dir} has no chat template")
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
        self.context_length = max_context or context_length(self.model.config, self.tokenizer)
        self.engine = Engine(
            self.model,
            self.tokenizer,
            architecture,
            stop=self.stop,
            batch_size=batch_size,
            cache=cache,
            share_prefixes=share_prefixes,
            compile=compile,
        )
        # A chat template that writes the BOS token itself must not get a second one from the tokenizer.
        bos = self.tokenizer.bos_token
        self.add_special_tokens = not (chat_template and bos and self.format_prompt("x").startswith(bos))

    @property
    def batch_size(self) -> int:
        """Rows generated together now (after any ``auto`` probe or out-of-memory halving)."""
        return self.engine.batch_size

    def format_prompt(self, prompt: str) -> str:
        """The prompt itself, or the prompt as the user turn of the tokenizer's chat template."""
        if not self.chat_template:
            return prompt
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of model inputs, special tokens included as the model sees them."""
        if not texts:
            return []
        return self.tokenizer(list(texts), add_special_tokens=self.add_special_tokens)["input_ids"]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts of model inputs, special tokens included as the model sees them."""
        return [len(ids) for ids in self.encode(texts)]

    def parameters(self) -> int:
        """Number of parameters (shared tensors counted once)."""
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> dict:
        """Provenance of this backend's setup, for the generation's metadata."""
        import transformers

        cuda = self.device.type == "cuda"
        return {
            "architecture": self.architecture,
            "model_class": type(self.model).__name__,
            "parameters": self.parameters(),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "devices": sorted({str(p.device) for p in self.model.parameters()}),
            "device_name": torch.cuda.get_device_name(self.device) if cuda else platform.processor() or "cpu",
            **self.engine.describe(),
            "context_length": self.context_length,
            "chat_template": self.chat_template,
            "add_special_tokens": self.add_special_tokens,
            "decoding": {"strategy": "greedy", "do_sample": False, "num_beams": 1, "stop": list(self.stop)},
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "cuda": torch.version.cuda if cuda else None,
            },
        }

    def prepare(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """Get ready for a unit's inputs: share their common prefix and, for ``batch_size: auto`` on a
        GPU, probe the batch size at the longest of them."""
        self.engine.prepare(inputs, max_new_tokens)

    def generate(self, inputs: Sequence[str] | Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations, in input order, of token ids from :meth:`encode` (or of texts, encoded here)."""
        ids = self.encode(inputs) if any(isinstance(x, str) for x in inputs) else inputs
        return self.engine.generate(ids, max_new_tokens)

    def sample(
        self, inputs: Sequence[Sequence[int]], names: Sequence[str], max_new_tokens: int, sampling: Sampling
    ) -> list[list[Completion]]:
        """``sampling.paths`` sampled continuations of each input's token ids, path j of input
        ``names[i]`` seeded by (seed, name, j)."""
        return self.engine.sample(inputs, names, max_new_tokens, sampling)
