"""The decoding engine: greedy, batched generation with transformers' ``generate``, made cheap.

- **Shared prefix.** Few-shot prompts of one (model, task, method) all start with the same
  exemplars. For a causal model that prefix is run through the model once (:meth:`Engine.share_prefix`);
  its keys and values are kept once, and every row attends to them before its own tokens
  (:mod:`cotrepro.engine.hf.shared_prefix`), so neither the prefill nor the per-step reads of the
  prefix are repeated per row. Each row's own tokens are padded on the left and their positions
  continue after the prefix, as in the unshared prompt.
- **Preallocated cache.** A static KV cache holds the prompt and the whole token budget from the
  start: no growth by concatenation at every step, and on CUDA transformers compiles the decode
  step (CUDA graphs) because the cache's shapes stay fixed. Whether the steps really ran compiled
  is measured as they run (:mod:`cotrepro.engine.hf.compile_meter`).
- **Stops on the device.** transformers' ``stop_strings`` checks stop sequences with token
  tables on the device; the host decodes each row once, after the batch.
- **Batch size.** Batches run longest first, so memory trouble shows at once; an out-of-memory
  error halves the batch size and retries, down to one, and shorter rows later grow it back.
  ``auto`` probes the largest batch that fits the device at the job's longest prompt and whole
  budget (:mod:`cotrepro.engine.batching`).
- **Sampling** (self-consistency) takes the same path: static cache, compiled step, one prefill per
  question whose cache is copied to its paths, and one batched counter-based draw per step
  (:mod:`cotrepro.engine.sampling`).

Seq2seq models (Flan-T5) keep their encoder path: each batch encodes its questions, each row over
its own tokens rather than under a padded [B, H, L, L] position-bias mask
(:mod:`cotrepro.engine.hf.encoder_rows`), and the decoder gets a static cache sized for the whole
budget and the device stop check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from transformers import DynamicCache, LogitsProcessorList, StaticCache
from transformers.modeling_outputs import BaseModelOutput

from cotrepro.engine.batching import CPU_BATCH_SIZE, BatchSizer
from cotrepro.engine.completion import Completion, eos_token_ids, row_completion
from cotrepro.engine.hf.compile_meter import CompileMeter
from cotrepro.engine.hf.encoder_rows import encoder_rows
from cotrepro.engine.hf.shared_prefix import shared_prefix
from cotrepro.engine.hf.token_logprobs import TokenLogprobs, kept_sum
from cotrepro.engine.sampling import PathSampler, Sampling, path_seed

GREEDY = {"do_sample": False, "num_beams": 1, "temperature": None, "top_p": None, "top_k": None}
"""transformers' generate arguments for plain greedy decoding; the None values override any sampling
defaults a model's generation_config carries."""
CACHES = ("static", "dynamic")
_CACHE_BUCKET = 256  # static caches are sized in steps of this many tokens, so compiled shapes repeat


def common_prefix(inputs: Sequence[Sequence[int]]) -> list[int]:
    """The longest run of leading token ids shared by all inputs, leaving every input at least one
    token of its own (the model needs a last prompt token to predict from)."""
    if not inputs:
        return []
    first, shortest = inputs[0], min(len(x) for x in inputs)
    n = 0
    while n < shortest - 1 and all(x[n] == first[n] for x in inputs):
        n += 1
    return list(first[:n])


@dataclass
class _Prefix:
    ids: list[int]
    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys and values, batch of one


class Engine:
    """Greedy generation for one loaded model; see the module docstring for what it saves."""

    def __init__(
        self,
        model,
        tokenizer,
        architecture: str,
        *,
        stop: Sequence[str] = ("Q:",),
        batch_size: int | str | BatchSizer = CPU_BATCH_SIZE,
        cache: str = "static",
        share_prefixes: bool = True,
        compile: bool = True,
        compile_backend: str | None = None,
    ):
        """``compile``: compile the decode step where it can be (a static cache; a GPU, or any device
        with ``compile_backend``, a torch.compile backend name such as ``eager``)."""
        if cache not in CACHES:
            raise ValueError(f"unknown cache {cache!r}; allowed values: {', '.join(CACHES)}")
        self.model, self.tokenizer, self.architecture = model, tokenizer, architecture
        self.device = model.get_input_embeddings().weight.device
        self.stop = tuple(stop)
        self.cache = cache
        self.share_prefixes = share_prefixes and architecture == "causal"
        # A backend hands over its own sizer, so that the batch size is kept in one place.
        self.sizer = batch_size if isinstance(batch_size, BatchSizer) else BatchSizer(batch_size)
        self.prefix: _Prefix | None = None
        self.cache_tokens = 0
        self.eos_ids = self._eos_ids()
        # transformers compiles the decode step (CUDA graphs) when the cache is static on a GPU.
        on_device = self.device.type == "cuda" or compile_backend is not None
        self.meter = CompileMeter(compile and cache == "static" and on_device, compile_backend)

    def _eos_ids(self) -> set[int]:
        return eos_token_ids(self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id)

    @property
    def compile_requested(self) -> bool:
        """Whether the decode step is meant to run compiled (what ran is :attr:`CompileMeter.compiled`)."""
        return self.meter.requested

    def describe(self) -> dict:
        """How this engine generated: cache, prefix sharing, stop check, batch sizes, and whether its
        decode steps ran compiled, as measured (``compiled``; the counts in ``compile``)."""
        return {
            "engine": "transformers.generate",
            "cache": self.cache,
            "compiled": self.meter.compiled,
            "compile": self.meter.describe(),
            "shared_prefix_tokens": len(self.prefix.ids) if self.prefix else 0,
            "stop_check": "device (stop_strings)" if self.stop else None,
            **self.sizer.describe(),
        }

    @property
    def batch_size(self) -> int:
        """Rows generated together now (after any ``auto`` probe or out-of-memory halving)."""
        return self.sizer.current

    def prepare(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """Get ready for a unit's inputs: share their common prefix, and on a GPU with ``batch_size:
        auto`` probe the batch size once, at the longest input."""
        self.share_prefix(inputs)
        if self.compile_requested:  # one cache length for the whole unit, so that the compiled step keeps its shapes
            self.cache_tokens = max((len(x) for x in inputs), default=0) + max_new_tokens
        self.sizer.probe_once(self._generate_batch, inputs, max_new_tokens, self.device)

    def share_prefix(self, inputs: Sequence[Sequence[int]]) -> int:
        """Compute once the KV cache of the longest prefix common to ``inputs``; later batches whose
        rows all start with it attend to that one copy. Returns the prefix length (0: nothing shared)."""
        ids = common_prefix(inputs) if self.share_prefixes and len(inputs) > 1 else []
        if self.prefix and self.prefix.ids == ids:
            return len(ids)
        self.prefix = None
        if ids:
            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True)
            self.prefix = _Prefix(ids, [(layer.keys, layer.values) for layer in out.past_key_values.layers])
        return len(ids)

    def generate(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations of token ids, in input order, batched longest first, halving the batch
        size on out-of-memory errors."""
        return self.sizer.longest_first(inputs, max_new_tokens, self._generate_batch, self.device)

    def sample(
        self, inputs: Sequence[Sequence[int]], names: Sequence[str], max_new_tokens: int, sampling: Sampling
    ) -> list[list[Completion]]:
        """``sampling.paths`` sampled continuations of each input, in input order; path j of input
        ``names[i]`` draws its noise from its own seed (:mod:`cotrepro.engine.sampling`). A batch holds
        whole inputs with all their paths (or, when the paths outnumber the batch, one input's next
        paths); each input is prefilled once — a causal model runs its tokens after the unit's shared
        prefix and the paths continue copies of that cache, a seq2seq model encodes it once."""
        inputs = [list(x) for x in inputs]
        rows = [(i, j) for i in range(len(inputs)) for j in range(sampling.paths)]

        def run(chunk):
            sampler = None
            if not sampling.greedy:
                seeds = [path_seed(sampling.seed, names[i], j) for i, j in chunk]
                sampler = PathSampler(sampling, seeds, self.device)
            questions = list(dict.fromkeys(i for i, _ in chunk))
            repeats = [sum(1 for i, _ in chunk if i == q) for q in questions]
            return self._sample_batch([inputs[q] for q in questions], repeats, max_new_tokens, sampler)

        done = self.sizer.batches(
            rows, run, self.device, align=sampling.paths, row_tokens=lambda row: len(inputs[row[0]]) + max_new_tokens
        )
        flat = iter(done)
        return [[next(flat) for _ in range(sampling.paths)] for _ in inputs]

    def _sample_batch(
        self, inputs: list[list[int]], repeats: list[int], max_new_tokens: int, sampler
    ) -> list[Completion]:
        """``repeats[i]`` continuations of each input, in order, from one prefill of each input."""
        prefix = self._prefix_of(inputs)
        n_prefix = len(prefix.ids) if prefix else 0
        enc = self._pad(inputs, n_prefix)
        width = enc["input_ids"].shape[1]
        index = torch.repeat_interleave(
            torch.arange(len(inputs), device=self.device), torch.tensor(repeats, device=self.device)
        )
        kwargs = {}
        with torch.inference_mode(), self._attention(prefix):
            if self.architecture == "causal":
                cache = self._new_cache(max(self.cache_tokens - n_prefix, width + max_new_tokens))
                if width > 1:  # every input token but the last, once per input, then copied to its paths
                    once = DynamicCache(config=self.model.config)
                    self.model(**{k: v[:, :-1] for k, v in enc.items()}, past_key_values=once, use_cache=True)
                    for layer, part in enumerate(once.layers):
                        cache.update(part.keys.index_select(0, index), part.values.index_select(0, index), layer)
                model_inputs = {k: v.index_select(0, index) for k, v in enc.items()}
                model_inputs["past_key_values"] = cache
            else:
                hidden = self.model.get_encoder()(**enc).last_hidden_state
                model_inputs = {
                    "encoder_outputs": BaseModelOutput(last_hidden_state=hidden.index_select(0, index)),
                    "attention_mask": enc["attention_mask"].index_select(0, index),
                }
                kwargs = self._decoder_cache(max_new_tokens)
            recorder = TokenLogprobs()
            out = self._run_generate(
                model_inputs, max_new_tokens, [recorder, *([sampler] if sampler else [])], **kwargs
            )
        start = width if self.architecture == "causal" else 1
        lengths = [len(inputs[i]) for i in index.tolist()]
        return self._completions(out, start, lengths, max_new_tokens, recorder)

    def probe_batch_size(self, longest: list[int], max_new_tokens: int) -> int:
        """The largest power-of-two batch (up to 256) of the longest prompt that fits the device."""
        return self.sizer.probe(self._generate_batch, longest, max_new_tokens, self.device)

    def _generate_batch(
        self,
        inputs: list[list[int]],
        max_new_tokens: int,
        budget: int | None = None,
    ) -> list[Completion]:
        """One greedy batch through ``generate``, attending to the unit's shared prefix when every row
        starts with it. ``budget``: size the caches for this many new tokens (the ``auto`` probe's
        two-token run, which runs uncompiled)."""
        prefix = self._prefix_of(inputs)
        n_prefix = len(prefix.ids) if prefix else 0
        enc = self._pad(inputs, n_prefix)
        width = enc["input_ids"].shape[1]
        kwargs = {}
        if self.architecture == "causal":
            total = max(self.cache_tokens - n_prefix, width + max(budget or 0, max_new_tokens))
            kwargs["past_key_values"] = self._new_cache(total)
        else:
            kwargs = self._decoder_cache(max(budget or 0, max_new_tokens))
        recorder = TokenLogprobs()
        with torch.inference_mode(), self._attention(prefix):
            out = self._run_generate(enc, max_new_tokens, [recorder], compiled=budget is None, **kwargs)
        # Causal models return prompt + continuation; seq2seq ones the decoder start token + continuation.
        start = width if self.architecture == "causal" else 1
        return self._completions(out, start, [len(x) for x in inputs], max_new_tokens, recorder)

    def _completions(
        self, out: torch.Tensor, start: int, prompt_tokens: list[int], max_new_tokens: int, recorder: TokenLogprobs
    ) -> list[Completion]:
        """Each row of ``generate``'s output from column ``start`` on as a completion, with the summed
        log-probability of the tokens it kept."""
        logprobs = recorder.per_row(out)
        return [
            dataclasses.replace(c, logprob=kept_sum(lp, c.generated_tokens))
            for c, lp in (
                (self._completion(tokens, n, max_new_tokens), lp)
                for tokens, n, lp in zip(out[:, start:].tolist(), prompt_tokens, logprobs, strict=True)
            )
        ]

    def _run_generate(self, model_inputs: dict, max_new_tokens: int, processors: list, compiled=True, **kwargs):
        """transformers' ``generate``, greedy, with the stop strings, the ``processors`` (a sampler)
        and, when the engine compiles (and ``compiled``), the compiled decode step, measured."""
        if self.stop:
            kwargs.update(stop_strings=list(self.stop), tokenizer=self.tokenizer)
        with self.meter.measuring(compiled) as run:
            return self.model.generate(
                **model_inputs,
                max_new_tokens=max_new_tokens,
                **GREEDY,
                pad_token_id=self.tokenizer.pad_token_id,
                logits_processor=LogitsProcessorList([*processors, *run["processors"]]),
                **run["generate"],
                **kwargs,
            )

    def _prefix_of(self, inputs: list[list[int]]) -> _Prefix | None:
        """The unit's shared prefix when every row starts with it; else None (rows of another unit,
        or a second stage)."""
        prefix = self.prefix
        if prefix and all(x[: len(prefix.ids)] == prefix.ids for x in inputs):
            return prefix
        return None

    def _decoder_cache(self, new_tokens: int) -> dict:
        """A seq2seq decoder's cache arguments: with a static cache, one sized for ``new_tokens``
        decoder tokens (transformers sizes the cross-attention part by the encoder's output)."""
        if self.cache != "static":
            return {}
        return {"cache_implementation": "static", "max_cache_len": new_tokens}

    def _attention(self, prefix: _Prefix | None):
        """The attention a batch runs with: over the shared prefix (causal), row by row over each
        encoder row's real tokens (seq2seq), or the model's own."""
        if prefix:
            return shared_prefix(self.model, prefix.kv)
        if self.architecture == "seq2seq":
            return encoder_rows(self.model)
        return nullcontext()

    def _pad(self, inputs: list[list[int]], n_prefix: int) -> dict[str, torch.Tensor]:
        """Input ids and attention mask. Causal rows: each row's tokens after the shared prefix, padded
        on the left so all rows end at the same column; with a prefix, position ids continue after it.
        Seq2seq rows: padded on the right."""
        pad = self.tokenizer.pad_token_id
        if self.architecture == "causal":
            own = [x[n_prefix:] for x in inputs]
            width = max(len(x) for x in own)
            rows = [[pad] * (width - len(x)) + x for x in own]
            masks = [[0] * (width - len(x)) + [1] * len(x) for x in own]
        else:
            width = max(len(x) for x in inputs)
            rows = [x + [pad] * (width - len(x)) for x in inputs]
            masks = [[1] * len(x) + [0] * (width - len(x)) for x in inputs]
        enc = {
            "input_ids": torch.tensor(rows, device=self.device),
            "attention_mask": torch.tensor(masks, device=self.device),
        }
        if n_prefix:
            # What transformers derives from the mask, shifted past the prefix the rows do not carry.
            positions = enc["attention_mask"].cumsum(-1) - 1 + n_prefix
            enc["position_ids"] = positions.masked_fill(enc["attention_mask"] == 0, 0)
        return enc

    def _new_cache(self, tokens: int):
        """An empty KV cache for up to ``tokens`` tokens a row (the shared prefix is kept apart)."""
        if self.cache == "static":
            if self.compile_requested:
                tokens = -(-tokens // _CACHE_BUCKET) * _CACHE_BUCKET
            return StaticCache(config=self.model.config, max_cache_len=tokens)
        return DynamicCache(config=self.model.config)

    def _completion(self, tokens: list[int], n_prompt: int, max_new_tokens: int) -> Completion:
        """A row's text and how it ended (:func:`cotrepro.engine.completion.row_completion`)."""
        return row_completion(tokens, n_prompt, max_new_tokens, self._decode, self.stop, self.eos_ids)

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)
