"""The from-scratch backend: the plain-PyTorch Llama of :mod:`cotrepro.engine.scratch.llama`
behind the runner's backend protocol, with batched greedy decoding written out here.

Rows are padded on the left so that every row's next token comes from the same column; a
preallocated KV cache holds the prompt and the whole token budget. A row ends at an end-of-sequence
token or once its text holds a stop sequence (checked on the host, on the decoded last tokens);
its :class:`Completion` is made by the same function as the transformers backend's
(:func:`cotrepro.engine.completion.row_completion`), so the two backends' rows differ only where
their tokens do. This module never imports a transformers model class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from cotrepro.engine.completion import Completion, cut_at_stop, eos_token_ids, row_completion
from cotrepro.engine.scratch.llama import load_scratch_llama
from cotrepro.engine.tokens import TokenizedBackend

_STOP_WINDOW = 8  # tokens decoded beyond a stop sequence's length when looking for it in a row's tail


class ScratchBackend(TokenizedBackend):
    """A Llama-architecture model directory run by the from-scratch implementation (one device)."""

    def __init__(
        self,
        model_dir: Path,
        architecture: str = "causal",
        **settings,
    ):
        """``settings``: those of :class:`TokenizedBackend` (device, dtype, batch_size, stop,
        chat_template, max_context)."""
        if architecture != "causal":
            raise ValueError(
                f"backend 'scratch' runs decoder-only Llama models (architecture causal), not {architecture!r}; "
                "use backend 'hf' for this model"
            )
        super().__init__(model_dir, **settings)
        self.architecture = architecture
        self.model = load_scratch_llama(model_dir, self.dtype, self.device)
        config = _read_json(Path(model_dir) / "config.json")
        generation = _read_json(Path(model_dir) / "generation_config.json")
        eos = generation.get("eos_token_id", config.get("eos_token_id"))
        self.eos_ids = eos_token_ids(eos, self.tokenizer.eos_token_id)
        self.context_length = self.context_from(config)
        self.guard_memory(config)
        self.stop_window = max((len(s) for s in self.stop), default=0) + _STOP_WINDOW

    def engine_description(self) -> dict:
        """How this backend decodes, in the fields of the transformers engine's description."""
        return {
            "engine": "cotrepro.scratch_llama",
            "cache": "static",
            "compiled": False,
            "compile": {"requested": False, "backend": None},
            "shared_prefix_tokens": 0,
            "stop_check": "host (decoded tail)" if self.stop else None,
            **self.sizer.describe(),
        }

    def prepare(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """On a GPU with ``batch_size: auto``, size the batches once at the longest input (no prefix is shared)."""
        self.sizer.probe_once(self._generate_batch, inputs, max_new_tokens, self.device)

    def generate(self, inputs: Sequence[str] | Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations, in input order, of token ids from :meth:`encode` (or of texts, encoded here)."""
        return self.sizer.longest_first(self.ids_of(inputs), max_new_tokens, self._generate_batch, self.device)

    def _generate_batch(
        self, inputs: list[list[int]], max_new_tokens: int, budget: int | None = None
    ) -> list[Completion]:
        rows = self.greedy(inputs, max_new_tokens, budget)
        return [
            row_completion(tokens, len(x), max_new_tokens, self.decode, self.stop, self.eos_ids)
            for tokens, x in zip(rows, inputs, strict=True)
        ]

    @torch.inference_mode()
    def greedy(self, inputs: list[list[int]], max_new_tokens: int, budget: int | None = None) -> list[list[int]]:
        """Each row's generated token ids, up to where it ended, then padding: rows are padded on the left,
        prefilled together, then extended one token a step until every row has ended or the budget is spent
        (``budget``: size the cache for this many new tokens, as the ``auto`` probe does)."""
        pad, b, width = self.tokenizer.pad_token_id, len(inputs), max(len(x) for x in inputs)
        length = width + max(budget or 0, max_new_tokens)  # the cache's tokens a row
        ids = torch.full((b, width), pad, dtype=torch.long)
        key_mask = torch.zeros((b, length), dtype=torch.bool)  # True where the cache holds a real token
        for r, x in enumerate(inputs):
            ids[r, width - len(x) :] = torch.tensor(x)
            key_mask[r, width - len(x) : width] = True
        ids, key_mask = ids.to(self.device), key_mask.to(self.device)
        positions = (key_mask[:, :width].cumsum(-1) - 1).clamp(min=0)  # each row's first real token is at 0
        cache = self.model.new_cache(b, length)
        logits = self.model(ids, positions, key_mask, cache, 0)[:, -1]  # [B, V]: the prompt's last column
        next_position = positions[:, -1:] + 1  # [B, 1]
        rows: list[list[int]] = [[] for _ in range(b)]
        done = [False] * b
        for step in range(max_new_tokens):
            chosen = logits.float().argmax(-1)  # [B]; ties go to the lowest id, as in transformers
            for r, token in enumerate(chosen.tolist()):
                rows[r].append(pad if done[r] else token)
                done[r] = done[r] or self._ended(rows[r])
            if all(done) or step == max_new_tokens - 1:
                break
            key_mask[:, width + step] = True
            logits = self.model(chosen[:, None], next_position, key_mask, cache, width + step)[:, -1]
            next_position = next_position + 1
        return rows

    def _ended(self, row: list[int]) -> bool:
        """Whether a row's last token ended it: end of sequence, or the completion of a stop sequence
        (looked for in the decoded tail; a hit is confirmed on the whole row)."""
        if row[-1] in self.eos_ids:
            return True
        if not self.stop or not cut_at_stop(self.decode(row[-self.stop_window :]), self.stop)[1]:
            return False
        return cut_at_stop(self.decode(row), self.stop)[1]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
