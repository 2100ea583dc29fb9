"""The served backend: the runner's backend protocol over an OpenAI-compatible server.

A prompt goes to ``/v1/completions`` as the exact text the in-process backends would feed the
model; with the chat template on, a method's prompt goes to ``/v1/chat/completions`` as the user
turn (the server applies the template), while text that continues the model's own turn (zero-shot
CoT's answer step) goes to ``/v1/completions``. Stops and ``max_tokens`` are always sent, greedy
is temperature 0, and path j of question q of self-consistency is its own request seeded from
(seed, q, j), never k copies of one seeded request. A completion is cut at the first stop sequence
here too, since servers differ in whether they keep it.

The ``tokenizer`` (a local directory or a Hub repo) gives token counts, context checks and the rows'
rendered chat prompts. Without one, inputs are measured in UTF-8 bytes (for ordering only), no
context check is made (the server refuses an over-long prompt, and the unit fails with its words),
token counts come from the server's usage, and a chat row's prompt is its user message.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path

from cotrepro.engine.completion import Completion, cut_at_stop
from cotrepro.engine.served.client import Connection, ServedError, run_requests
from cotrepro.engine.served.probe import probe, sampling_body

_JOURNAL_ROUNDS = 4  # rows handed over (and journaled) at a time: this many rounds of max_concurrency


class _Ids(list):
    """Token ids (or UTF-8 bytes) of an input that still carry its text, which is what is sent."""

    text: str


class _ServerTemplate:
    """Stands for a tokenizer when there is none: the server owns the chat template."""

    chat_template = "applied by the server"
    bos_token = None


def parameter_count(model_dir: Path) -> int | None:
    """Parameters of the safetensors weights in ``model_dir``, read from their headers (no weights
    loaded); None when it holds none (a tokenizer-only directory)."""
    import json
    import math
    import struct

    total = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        total += sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    return total or None


def _usage(response) -> tuple[int | None, int | None]:
    usage = getattr(response, "usage", None)
    return (usage.prompt_tokens, usage.completion_tokens) if usage else (None, None)


class ServedBackend:
    """A model behind an OpenAI-compatible server (config ``backend: served``)."""

    architecture = "causal"
    dtype = "served"  # the unit fingerprint's dtype: whatever the server runs (its identity is in fingerprint())

    def __init__(
        self,
        connection: Connection,
        *,
        tokenizer: str | Path | None = None,
        stop: Sequence[str] = ("Q:",),
        chat_template: bool = False,
        context_length: int | None = None,
        batch_size: int | str = "auto",
        server: dict | None = None,
    ):
        """Probe the server (:func:`cotrepro.engine.served.probe.probe`) and load ``tokenizer`` if
        given. ``server``: how the server was started (its command), for the metadata."""
        self.connection, self.stop, self.chat_template = connection, tuple(stop), chat_template
        self.tokenizer_source = str(tokenizer) if tokenizer else None
        self.tokenizer = _ServerTemplate()
        self.context_length = context_length
        if tokenizer:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=False)
            if context_length is None:
                limit = getattr(self.tokenizer, "model_max_length", None)
                self.context_length = limit if isinstance(limit, int) and limit < 10**6 else None
        if chat_template and not self.tokenizer.chat_template:
            raise ServedError(f"chat_template is on but the tokenizer {tokenizer} has no chat template")
        self.batch_size = batch_size if isinstance(batch_size, int) else connection.max_concurrency * _JOURNAL_ROUNDS
        self.server = server or {}
        self.parameters = parameter_count(Path(tokenizer)) if tokenizer and Path(tokenizer).is_dir() else None
        self.capabilities = probe(connection)
        if chat_template and not self.capabilities["chat"]:
            raise ServedError(f"{connection.where()}: chat_template is on but the server has no /chat/completions")
        if not chat_template and not self.capabilities["completions"]:
            raise ServedError(
                f"{connection.where()}: the plain prompt format needs /completions, which the server does not "
                "offer; set chat_template: true for a chat-only model"
            )
        self._messages: dict[str, str] = {}  # formatted chat prompt -> the user message it wraps
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "retries": 0, "seconds": 0.0}
        bos = getattr(self.tokenizer, "bos_token", None)
        self.add_special_tokens = not (chat_template and bos and self.format_prompt("x").startswith(bos))

    # --- prompts and token ids ---

    def format_prompt(self, prompt: str) -> str:
        """The prompt, or (chat template on) its rendering as the user turn: by the tokenizer where
        there is one, else the user message itself; either way the user message is what is sent."""
        if not self.chat_template:
            return prompt
        text = prompt
        if self.tokenizer_source:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        self._messages[text] = prompt
        return text

    def in_prompt_format(self, chat_template: bool):
        """This backend with prompts in the other format (a shallow copy sharing the probe)."""
        if chat_template and not self.capabilities["chat"]:
            raise ServedError(f"{self.connection.where()}: the chat format needs /chat/completions")
        view = copy.copy(self)
        view.chat_template = chat_template
        bos = getattr(self.tokenizer, "bos_token", None)
        view.add_special_tokens = not (chat_template and bos and view.format_prompt("x").startswith(bos))
        return view

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids as the model sees them (UTF-8 bytes without a tokenizer), each carrying its text."""
        if not texts:
            return []
        if self.tokenizer_source:
            ids = self.tokenizer(list(texts), add_special_tokens=self.add_special_tokens)["input_ids"]
        else:
            ids = [list(t.encode("utf-8")) for t in texts]
        out = []
        for text, row in zip(texts, ids, strict=True):
            item = _Ids(row)
            item.text = text
            out.append(item)
        return out

    def prepare(self, inputs: Sequence[Sequence[int]], max_new_tokens: int) -> None:
        """Nothing to size: the server batches (and caches prefixes) itself."""

    # --- requests ---

    def _text(self, item) -> str:
        if isinstance(item, str):
            return item
        if hasattr(item, "text"):
            return item.text
        if self.tokenizer_source:
            return self.tokenizer.decode(item, skip_special_tokens=False)
        return bytes(item).decode("utf-8")

    def _request(self, text: str, max_tokens: int, extra: dict):
        """One request's coroutine factory: chat for a formatted prompt, completions otherwise."""
        model, stop = self.connection.served_model, list(self.stop) or None
        if self.chat_template and text in self._messages:
            messages = [{"role": "user", "content": self._messages[text]}]
            return lambda c: c.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens, stop=stop, **extra
            )
        if not self.capabilities["completions"]:
            raise ServedError(
                f"{self.connection.where()}: continuing the model's own text (zero-shot CoT's answer step) needs "
                "/completions, which the server does not offer"
            )
        bos = getattr(self.tokenizer, "bos_token", None)
        if bos and text.startswith(bos) and not self.add_special_tokens:
            # Rendered by a chat template that writes BOS; the server's tokenizer adds its own.
            text = text[len(bos) :]
        return lambda c: c.completions.create(model=model, prompt=text, max_tokens=max_tokens, stop=stop, **extra)

    def _completion(self, response, n_input: int, max_tokens: int) -> Completion:
        choice = response.choices[0]
        raw = choice.message.content if hasattr(choice, "message") else choice.text
        text, cut = cut_at_stop(raw or "", self.stop)
        prompt_tokens, generated = _usage(response)
        matched = (getattr(choice, "model_extra", None) or {}).get("stop_reason")  # vLLM: the stop it matched
        if cut or (isinstance(matched, str) and matched in self.stop):
            reason = "stop_sequence"
        else:
            reason = "max_new_tokens" if choice.finish_reason == "length" else "eos"
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens if prompt_tokens is not None else n_input,
            generated_tokens=generated if generated is not None else (max_tokens if reason == "max_new_tokens" else 0),
            stop_reason=reason,
        )

    def _send(self, items: Sequence, max_tokens: int, extras: Sequence[dict], concurrency: int | None = None):
        texts = [self._text(x) for x in items]
        calls = [self._request(t, max_tokens, e) for t, e in zip(texts, extras, strict=True)]
        t0 = time.perf_counter()
        responses, retried = run_requests(self.connection, calls, concurrency)
        completions = [self._completion(r, len(x), max_tokens) for r, x in zip(responses, items, strict=True)]
        u = self.usage
        u["requests"] += len(calls)
        u["retries"] += retried
        u["seconds"] = round(u["seconds"] + time.perf_counter() - t0, 3)
        for r in responses:
            p, g = _usage(r)
            u["prompt_tokens"] += p or 0
            u["completion_tokens"] += g or 0
        return completions

    def generate(self, inputs: Sequence[str] | Sequence[Sequence[int]], max_new_tokens: int) -> list[Completion]:
        """Greedy continuations (temperature 0) in input order, ``max_concurrency`` requests at a time."""
        return self._send(inputs, max_new_tokens, [{"temperature": 0}] * len(inputs))

    def check_sampling(self, sampling) -> None:
        """Refuse, before any request, sampling the server cannot reproduce (one line saying why)."""
        if sampling is None or sampling.greedy:
            return
        if self.capabilities["sampling"] is None:
            raise ServedError(
                f"{self.connection.where()}: self-consistency needs seeded sampling, and the server's samples do "
                "not follow the seed (the same seed gave different text, or another seed the same); "
                "use a server that honours 'seed' (vLLM, SGLang) or leave the sampling methods out"
            )

    def sample(self, inputs, names, max_new_tokens: int, sampling) -> list[list[Completion]]:
        """``sampling.paths`` continuations of each input, path j of input ``names[i]`` its own request
        seeded by (seed, name, j); one request at a time where the server's seed is global."""
        from cotrepro.engine.sampling import path_seed

        self.check_sampling(sampling)
        if sampling.greedy:
            return [[c] * sampling.paths for c in self.generate(inputs, max_new_tokens)]
        mode = self.capabilities["sampling"]
        body = sampling_body(mode, sampling.temperature, sampling.top_k, sampling.top_p, max_new_tokens)
        items, extras = [], []
        for item, name in zip(inputs, names, strict=True):
            for j in range(sampling.paths):
                items.append(item)
                # 31 bits: every server's seed field takes it (some reject 64-bit integers).
                extras.append(body | {"seed": path_seed(sampling.seed, name, j) % 2**31})
        concurrency = 1 if self.capabilities["seed_scope"] == "global" else None
        flat = self._send(items, max_new_tokens, extras, concurrency)
        k = sampling.paths
        return [flat[i * k : (i + 1) * k] for i in range(len(inputs))]

    # --- provenance ---

    def fingerprint(self) -> dict:
        """What identifies the model that makes the rows: a changed name or reported model regenerates."""
        return {"served_model": self.connection.served_model, "reported_model": self.capabilities["reported_model"]}

    def describe(self) -> dict:
        """Provenance: the server, what it reported and supports, the request parameters, usage and
        wall time so far in this job (the key's variable name only, never the key)."""
        import openai

        c = self.connection
        return {
            "architecture": self.architecture,
            "engine": "served",
            "server": {
                "base_url": c.base_url,
                "served_model": c.served_model,
                "api_key_env": c.api_key_env,
                **self.server,
            },
            "capabilities": self.capabilities,
            "requests": {
                "endpoint": "chat/completions" if self.chat_template else "completions",
                "max_concurrency": c.max_concurrency,
                "timeout": c.timeout,
                "retries": c.retries,
                "greedy": {"temperature": 0, "stop": list(self.stop), "max_tokens": "the unit's budget, always sent"},
                "sampling": self.capabilities["sampling"],
            },
            "usage": dict(self.usage),
            "cache": None,
            "compiled": False,
            "shared_prefix_tokens": 0,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "device": "server",
            "device_name": f"server ({c.served_model})",
            "parameters": self.parameters,
            "tokenizer": self.tokenizer_source,
            "context_length": self.context_length,
            "chat_template": self.chat_template,
            "add_special_tokens": self.add_special_tokens,
            "decoding": {"strategy": "greedy", "temperature": 0, "stop": list(self.stop)},
            "versions": {"openai": openai.__version__},
        }


_CONNECTION_KEYS = ("base_url", "served_model", "api_key_env", "max_concurrency", "timeout", "retries")


def served_backend(
    model_dir: Path | None,
    *,
    served: dict,
    stop: Sequence[str] = ("Q:",),
    chat_template: bool = False,
    batch_size: int | str = "auto",
    max_context: int | None = None,
    **_placement,
) -> ServedBackend:
    """A :class:`ServedBackend` from the loader's settings: ``served`` holds the connection keys,
    ``tokenizer``, ``context_length`` and ``server``; the tokenizer defaults to ``model_dir``'s
    when it has one. Device and dtype (``_placement``) are the server's business and are ignored."""
    tokenizer = served.get("tokenizer")
    if tokenizer is None and model_dir is not None and (Path(model_dir) / "tokenizer_config.json").is_file():
        tokenizer = model_dir
    connection = Connection(**{k: served[k] for k in _CONNECTION_KEYS if served.get(k) is not None})
    return ServedBackend(
        connection,
        tokenizer=tokenizer,
        stop=stop,
        chat_template=chat_template,
        context_length=served.get("context_length") or max_context,
        batch_size=batch_size,
        server=served.get("server"),
    )
