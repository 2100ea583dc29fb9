"""What every backend does before its model runs: pick the device and dtype, load the model
directory's tokenizer, format prompts (plain or in the chat template) and encode them.

Only the tokenizer is imported from transformers here, never a model class, so that a backend
without transformers models (:mod:`cotrepro.engine.scratch.backend`) starts without that import.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from cotrepro.engine.batching import BatchSizer
from cotrepro.engine.memory_guard import cpu_memory_check, cpu_memory_estimate

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
    """The model's context in tokens, from its config (an object or a ``config.json`` dict) or the
    tokenizer's limit; None when unknown."""
    for key in _CONTEXT_KEYS:
        value = config.get(key) if isinstance(config, dict) else getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 10**6 else None


class TokenizedBackend:
    """The tokenizer half of a backend: loads a model directory's tokenizer and turns a method's
    prompts into the token ids the model sees. Subclasses set ``architecture``, ``model`` and
    ``context_length``, describe their engine and generate."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | str = "auto",
        stop: Sequence[str] = ("Q:",),
        chat_template: bool = False,
        max_context: int | None = None,
    ):
        """Load ``model_dir``'s tokenizer. ``batch_size``: a number or ``auto``; ``max_context``:
        the context in tokens when the model's own should not be used (:meth:`context_from`)."""
        from transformers import AutoTokenizer

        self.sizer = BatchSizer(batch_size)
        self.max_context = max_context
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.stop = tuple(stop)
        self.chat_template = chat_template
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if chat_template and not self.tokenizer.chat_template:
            raise ValueError(f"chat_template is on but the tokenizer in {model_dir} has no chat template")
        # A chat template that writes the BOS token itself must not get a second one from the tokenizer.
        bos = self.tokenizer.bos_token
        self.add_special_tokens = not (chat_template and bos and self.format_prompt("x").startswith(bos))

    @property
    def batch_size(self) -> int:
        """Rows generated together now (after any ``auto`` probe or out-of-memory halving)."""
        return self.sizer.current

    def context_from(self, config) -> int | None:
        """The context in tokens: ``max_context`` when given, else the model's (:func:`context_length`)."""
        return self.max_context or context_length(config, self.tokenizer)

    def guard_memory(self, config: dict) -> None:
        """On the CPU, check every batch against the memory left before it runs
        (:mod:`cotrepro.engine.memory_guard`), by the size of the model of this ``config.json``."""
        if self.device.type == "cpu":
            estimate = cpu_memory_estimate(config, dtype_bytes=self.dtype.itemsize)
            self.sizer.memory_check = cpu_memory_check(estimate)

    def over_memory(self, tokens: int) -> str | None:
        """Why one input of ``tokens`` cache tokens (prompt and budget) would not fit the memory left
        to this job, or None (always None off the CPU, where out-of-memory is an error to catch)."""
        check = self.sizer.memory_check
        return check(1, tokens) if check else None

    def in_prompt_format(self, chat_template: bool):
        """This backend with prompts in the other format (chat template or plain): a shallow copy
        that shares the loaded model and tokenizer, so a job's prompt-format variants cost no load."""
        import copy

        if chat_template and not self.tokenizer.chat_template:
            raise ValueError("the chat format needs a tokenizer with a chat template")
        view = copy.copy(self)
        view.chat_template = chat_template
        bos = self.tokenizer.bos_token
        view.add_special_tokens = not (chat_template and bos and view.format_prompt("x").startswith(bos))
        return view

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

    def decode(self, tokens: Sequence[int]) -> str:
        """The text of generated token ids, special tokens left out."""
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def ids_of(self, inputs: Sequence[str] | Sequence[Sequence[int]]) -> Sequence[Sequence[int]]:
        """Token ids of ``inputs``: encoded here when they are texts, as they are when already ids."""
        return self.encode(inputs) if any(isinstance(x, str) for x in inputs) else inputs

    def parameters(self) -> int:
        """Number of parameters of the loaded model (shared tensors, such as a tied head, counted once)."""
        return sum(p.numel() for p in self.model.parameters())

    def engine_description(self) -> dict:
        """How the subclass decodes: engine, cache, shared prefix, stop check, batch sizes."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Provenance of the backend's setup, for the generation's metadata: the model, how it decodes
        (:meth:`engine_description`), placement, context, prompt format, decoding and versions."""
        import transformers

        cuda = self.device.type == "cuda"
        return {
            "architecture": self.architecture,
            "model_class": type(self.model).__name__,
            "parameters": self.parameters(),
            "devices": sorted({str(p.device) for p in self.model.parameters()}),
            **self.engine_description(),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device) if cuda else _processor(),
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


def _processor() -> str:
    import platform

    return platform.processor() or "cpu"
