"""The capability probe: a few short requests at job start that find out what the server really
honours, since OpenAI-compatible servers accept fields they ignore (``transformers serve`` takes
``n``, ``logprobs`` and ``temperature`` without effect and samples only through its own
``generation_config`` field). What it finds is recorded in the unit metadata; the backend adapts to
it or refuses a setting with one line before any request of a unit is sent."""

from __future__ import annotations

import json

from cotrepro.engine.served.client import Connection, ServedError, describe_error, run_requests

_PROMPT = "Once upon a time"
_TOKENS = 16  # enough tokens that two samples of a real model almost never agree by chance
_SEEDS = (11, 11, 12)  # the same seed twice (reproducible?), then another (does the seed matter?)


class Unsupported:
    """A probe request the server refused (4xx): the feature is not there."""

    def __init__(self, why: str):
        self.why = why


def _guard(request):
    """``request(client)``, with a 4xx answer turned into :class:`Unsupported` (not retried)."""
    import openai

    async def call(client):
        try:
            return await request(client)
        except openai.APIStatusError as err:
            if err.status_code == 429 or err.status_code >= 500:
                raise
            return Unsupported(describe_error(err))

    return call


def sampling_body(mode: str, temperature: float, top_k: int | None, top_p: float | None, max_tokens: int) -> dict:
    """The request fields that make the server sample: the OpenAI fields (``request``, with top_k as
    vLLM's and SGLang's extra field), or ``transformers serve``'s ``generation_config`` JSON string
    (``generation_config``), which replaces the model's defaults, so every warper is set explicitly."""
    if mode == "generation_config":
        config = {"do_sample": True, "temperature": temperature, "top_k": top_k or 0, "top_p": top_p or 1.0}
        return {"extra_body": {"generation_config": json.dumps(config | {"max_new_tokens": max_tokens})}}
    body = {"temperature": temperature, **({"top_p": top_p} if top_p is not None else {})}
    return body | ({"extra_body": {"top_k": top_k}} if top_k is not None else {})


def _texts(results) -> list[str | None]:
    return [None if isinstance(r, Unsupported) else r.choices[0].text for r in results]


def _seeded(connection: Connection, mode: str) -> bool:
    """Whether seeded samples in ``mode`` are reproducible and depend on the seed (sent one at a
    time, so that a server with one global seed passes too)."""
    body = sampling_body(mode, 1.0, None, None, _TOKENS)
    calls = [
        _guard(
            lambda c, s=s: c.completions.create(
                model=connection.served_model, prompt=_PROMPT, max_tokens=_TOKENS, seed=s, **body
            )
        )
        for s in _SEEDS
    ]
    a, b, other = _texts(run_requests(connection, calls, concurrency=1)[0])
    return a is not None and a == b and a != other


def probe(connection: Connection) -> dict:
    """What the server supports: completions, chat, ``n``, logprobs, seeded sampling (and how to ask
    for it), a tokenizer endpoint; the model id it reports and what it says about itself."""
    model = connection.served_model
    greedy = {"model": model, "prompt": _PROMPT, "max_tokens": 4, "temperature": 0}
    calls = {
        "completions": _guard(lambda c: c.completions.create(**greedy)),
        "chat": _guard(
            lambda c: c.chat.completions.create(
                model=model, messages=[{"role": "user", "content": _PROMPT}], max_tokens=4, temperature=0
            )
        ),
        "n": _guard(lambda c: c.completions.create(**greedy, n=2)),
        "logprobs": _guard(lambda c: c.completions.create(**greedy, logprobs=1)),
        "models": _guard(lambda c: c.models.list()),
    }
    results = dict(zip(calls, run_requests(connection, list(calls.values()), concurrency=1)[0], strict=True))
    ok = {k: not isinstance(v, Unsupported) for k, v in results.items()}
    if not ok["completions"] and not ok["chat"]:
        raise ServedError(
            f"{connection.where()}: neither /completions nor /chat/completions answers "
            f"({results['completions'].why}); check base_url and served_model"
        )
    first = results["completions"] if ok["completions"] else results["chat"]
    listed = [m.model_dump() for m in results["models"].data] if ok["models"] else []
    found = {
        "completions": ok["completions"],
        "chat": ok["chat"],
        "n": ok["n"] and ok["completions"] and len(results["n"].choices) == 2,
        "logprobs": ok["logprobs"] and ok["completions"] and results["logprobs"].choices[0].logprobs is not None,
        "reported_model": first.model,
        "system_fingerprint": getattr(first, "system_fingerprint", None),
        "models_endpoint": [
            {k: m.get(k) for k in ("id", "owned_by", "root", "max_model_len") if k in m} for m in listed
        ]
        if ok["models"]
        else None,
        "sampling": None,
    }
    if ok["completions"]:
        for mode in ("request", "generation_config"):
            if _seeded(connection, mode):
                found["sampling"] = mode
                break
    # transformers serve seeds one global torch generator per request, so concurrent seeded
    # requests would race; servers that sample through the OpenAI fields seed per request.
    found["seed_scope"] = {"request": "request", "generation_config": "global"}.get(found["sampling"])
    return found
