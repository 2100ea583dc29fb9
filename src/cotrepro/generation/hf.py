"""Hugging Face transformers backend: greedy, batched generation for seq2seq and causal LMs.

Batches are sorted longest first, so an out-of-memory error shows up in the first batch; on such
an error the batch size halves and the batch is retried, down to one. Causal models are padded
on the left so every row's continuation starts at the same position. A completion is cut at the
first stop sequence, and rows that produce one stop early without waiting for the whole batch.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)

from cotrepro.generation.backend import Completion

log = logging.getLogger("cotrepro.generation")

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
GREEDY = {"do_sample": False, "num_beams": 1, "temperature": None, "top_p": None, "top_k": None}
"""transformers' generate arguments for plain greedy decoding; the None values override any sampling
defaults a model's generation_config carries."""
_STOP_WINDOW = 12  # tokens decoded from the end of each row when looking for a stop sequence


class GenerationOOM(RuntimeError):
    """Out of memory even at batch size one: the model does not fit this device."""


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


class _StopOnSequences(StoppingCriteria):
    """Marks a row done once its generated text contains a stop sequence; remembers where."""

    def __init__(self, tokenizer, stops: Sequence[str], start: int, batch: int):
        self.tokenizer, self.stops, self.start = tokenizer, tuple(stops), start
        self.stopped_at: list[int | None] = [None] * batch

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if not self.stops:
            return done
        generated = input_ids.shape[1] - self.start
        tails = input_ids[:, max(self.start, input_ids.shape[1] - _STOP_WINDOW) :].tolist()
        for row, tail in enumerate(tails):
            if self.stopped_at[row] is None:
                text = self.tokenizer.decode(tail, skip_special_tokens=True)
                if any(s in text for s in self.stops):
                    self.stopped_at[row] = generated
            done[row] = self.stopped_at[row] is not None
        return done


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class HFBackend:
    """A transformers model and tokenizer loaded from a local directory (safetensors only)."""

    def __init__(
        self,
        model_dir: Path,
        architecture: str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        stop: Sequence[str] = ("Q:",),
        chat_template: bool = False,
        max_context: int | None = None,
        devices: int = 1,
    ):
        self.architecture = architecture
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = self.initial_batch_size = batch_size
        self.stop = tuple(stop)
        self.chat_template = chat_template
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        if architecture == "causal":
            model_class = AutoModelForCausalLM
            self.tokenizer.padding_side = "left"
        elif architecture == "seq2seq":
            model_class = AutoModelForSeq2SeqLM
            self.tokenizer.padding_side = "right"
        else:
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
        self.eos_ids = self._eos_ids()
        # A chat template that writes the BOS token itself must not get a second one from the tokenizer.
        bos = self.tokenizer.bos_token
        self.add_special_tokens = not (chat_template and bos and self.format_prompt("x").startswith(bos))

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        ids = ids if isinstance(ids, list) else [ids]
        return {i for i in ids if i is not None} | {self.tokenizer.eos_token_id}

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
            "batch_size": self.initial_batch_size,
            "final_batch_size": self.batch_size,
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

    def generate(self, inputs: Sequence[str] | Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations of token ids from :meth:`encode` (or of texts, encoded here), batched
        longest first, halving the batch size on out-of-memory errors."""
        ids = self.encode(inputs) if any(isinstance(x, str) for x in inputs) else list(inputs)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        results: list[Completion | None] = [None] * len(ids)
        pos = 0
        while pos < len(order):
            idx = order[pos : pos + self.batch_size]
            try:
                batch = self._generate_batch([ids[i] for i in idx], max_new_tokens)
            except torch.cuda.OutOfMemoryError as err:
                self._release_memory()
                if self.batch_size == 1:
                    raise GenerationOOM(
                        f"out of memory at batch size 1 on {self.device} with a "
                        f"{len(ids[idx[0]])}-token input; use a larger GPU or more GPUs"
                    ) from err
                self.batch_size = max(1, self.batch_size // 2)
                log.warning("out of memory with a batch of %d; retrying with batch size %d", len(idx), self.batch_size)
                continue
            for i, completion in zip(idx, batch, strict=True):
                results[i] = completion
            pos += len(idx)
        return results  # type: ignore[return-value]

    def _release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _generate_batch(self, inputs: list[list[int]], max_new_tokens: int) -> list[Completion]:
        # Padded to the batch's longest on the tokenizer's side: left for causal models, right for seq2seq.
        enc = self.tokenizer.pad(
            {"input_ids": inputs}, padding=True, return_attention_mask=True, return_tensors="pt"
        ).to(self.device)
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        # Causal models return prompt + continuation; seq2seq ones the decoder start token + continuation.
        start = enc["input_ids"].shape[1] if self.architecture == "causal" else 1
        stopper = _StopOnSequences(self.tokenizer, self.stop, start, len(inputs))
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                **GREEDY,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        rows = out[:, start:].tolist()
        return [
            self._completion(tokens, n_prompt, stopper.stopped_at[r], max_new_tokens)
            for r, (tokens, n_prompt) in enumerate(zip(rows, prompt_tokens, strict=True))
        ]

    def _completion(self, tokens: list[int], n_prompt: int, stopped_at: int | None, max_new_tokens: int) -> Completion:
        ends = [len(tokens)]
        first_eos = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
        if first_eos is not None:
            ends.append(first_eos + 1)
        if stopped_at is not None:
            ends.append(stopped_at)
        n = min(ends)
        text, cut = cut_at_stop(self.tokenizer.decode(tokens[:n], skip_special_tokens=True), self.stop)
        if cut:
            reason = "stop_sequence"
        elif first_eos is not None and first_eos < n:
            reason = "eos"
        else:
            reason = "max_new_tokens" if n >= max_new_tokens else "eos"
        return Completion(text=text, prompt_tokens=int(n_prompt), generated_tokens=n, stop_reason=reason)
