"""A real OpenAI-compatible server for the served backend's tests (``transformers serve`` on CPU,
started and stopped by the project's own launcher), and a fault-injecting HTTP proxy in front of it:
429 with Retry-After, 500, a connection reset, a slow answer, or a callback (killing the server)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from servers import LocalHTTPServer

TRANSFORMERS = str(Path(sys.executable).with_name("transformers"))
SERVE = TRANSFORMERS + " serve {model_dir} --host 127.0.0.1 --port {port} --device cpu --dtype float32"


def serve_env(home: Path) -> dict:
    """The environment for ``transformers serve`` (and a Snakemake that starts it): an HF_HOME of the
    test's own, with the cache directory its /v1/models needs, and no Hub."""
    (home / "hub").mkdir(parents=True, exist_ok=True)
    return os.environ | {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}


@contextlib.contextmanager
def transformers_serve(model_dir: Path, home: Path):
    """``transformers serve`` on ``model_dir``; yields the launcher's info (base_url, pid, ...).
    HF_HOME is a directory of the test's own (its /v1/models fails without a cache directory)."""
    from cotrepro.engine.served.launcher import launched_server

    env = serve_env(home)
    with launched_server(
        SERVE, model_dir=model_dir, served_model=str(model_dir), log_path=home / "server.log", timeout=180, env=env
    ) as info:
        yield info


class FaultProxy(LocalHTTPServer):
    """Forwards every request to ``upstream`` (a base URL's host and port); the n-th POST may get a
    fault from ``faults`` (index -> "429", "500", "reset", "slow", or a callable run before forwarding).
    With ``tokenizer`` (a model directory) and ``max_model_len``, it answers ``POST /tokenize`` as
    vLLM does, and adds vLLM-shaped ``logprobs`` to a ``/completions`` answer that asked for them
    (``transformers serve`` has neither): each token of the text, split where the tokenizer splits
    it, at log-probability -1 (``injected`` counts them per text)."""

    def __init__(
        self,
        upstream: str,
        faults: dict | None = None,
        slow_seconds: float = 3.0,
        tokenizer: Path | None = None,
        max_model_len: int = 2048,
    ):
        self.upstream, self.faults, self.slow = upstream, dict(faults or {}), slow_seconds
        self.tokenizer, self.max_model_len = None, max_model_len
        self.injected: dict[str, int] = {}
        if tokenizer is not None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.posts = 0
        self.log: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                proxy._forward(self, "GET")

            def do_POST(self):
                proxy._forward(self, "POST")

            def log_message(self, *args):
                pass

        self.base_url = self._listen(Handler) + "/v1"

    def _forward(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        fault = None
        if method == "POST":
            with self._lock:
                fault = self.faults.pop(self.posts, None)
                self.posts += 1
        if method == "POST" and h.path == "/tokenize" and self.tokenizer is not None:
            tokens = self.tokenizer(json.loads(body)["prompt"])["input_ids"]
            answer = {"count": len(tokens), "max_model_len": self.max_model_len, "tokens": tokens}
            _send_json(h, 200, json.dumps(answer).encode())
            return
        if callable(fault):
            fault()
        elif fault in ("429", "500"):
            self.log.append(fault)
            _send_json(
                h,
                int(fault),
                b'{"error": {"message": "injected fault"}}',
                {"Retry-After": "1"} if fault == "429" else {},
            )
            return
        elif fault == "reset":
            self.log.append(fault)
            # SO_LINGER 0: close sends a TCP reset instead of an orderly end.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            h.connection.close()
            h.close_connection = True
            return
        elif fault == "slow":
            self.log.append(fault)
            time.sleep(self.slow)
        host, port = self.upstream.split("//")[1].split("/")[0].split(":")
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "content-length")}
            conn.request(method, h.path, body=body or None, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except OSError:
            h.send_response(502)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if method == "POST" and h.path.endswith("/completions") and self.tokenizer and json.loads(body).get("logprobs"):
            data = with_logprobs(self, data)
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        with contextlib.suppress(OSError):
            h.wfile.write(data)


def _send_json(h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict | None = None) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(payload)))
    h.end_headers()
    h.wfile.write(payload)


def with_logprobs(proxy: FaultProxy, data: bytes) -> bytes:
    """A ``/completions`` answer with vLLM-shaped ``logprobs`` on each choice (see FaultProxy)."""
    answer = json.loads(data)
    for choice in answer.get("choices", []):
        text = choice["text"]
        starts = [
            s for s, _ in proxy.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ]
        starts = sorted({0, *starts}) if text else []
        tokens = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
        choice["logprobs"] = {
            "tokens": tokens,
            "token_logprobs": [-1.0] * len(tokens),
            "text_offset": starts,
            "top_logprobs": [{tok: -1.0} for tok in tokens],
        }
        proxy.injected[text] = len(tokens)
    return json.dumps(answer).encode()
