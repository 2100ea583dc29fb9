"""A real OpenAI-compatible server for the served backend's tests (``transformers serve`` on CPU,
started and stopped by the project's own launcher), and a fault-injecting HTTP proxy in front of it:
429 with Retry-After, 500, a connection reset, a slow answer, or a callback (killing the server)."""

from __future__ import annotations

import contextlib
import http.client
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


@contextlib.contextmanager
def transformers_serve(model_dir: Path, home: Path):
    """``transformers serve`` on ``model_dir``; yields the launcher's info (base_url, pid, ...).
    HF_HOME is a directory of the test's own (its /v1/models fails without a cache directory)."""
    from cotrepro.engine.served.launcher import launched_server

    (home / "hub").mkdir(parents=True, exist_ok=True)
    env = os.environ | {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    with launched_server(
        SERVE, model_dir=model_dir, served_model=str(model_dir), log_path=home / "server.log", timeout=180, env=env
    ) as info:
        yield info


class FaultProxy(LocalHTTPServer):
    """Forwards every request to ``upstream`` (a base URL's host and port); the n-th POST may get a
    fault from ``faults`` (index -> "429", "500", "reset", "slow", or a callable run before forwarding)."""

    def __init__(self, upstream: str, faults: dict | None = None, slow_seconds: float = 3.0):
        self.upstream, self.faults, self.slow = upstream, dict(faults or {}), slow_seconds
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
        if callable(fault):
            fault()
        elif fault in ("429", "500"):
            self.log.append(fault)
            payload = b'{"error": {"message": "injected fault"}}'
            h.send_response(int(fault))
            if fault == "429":
                h.send_header("Retry-After", "1")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
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
        h.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        with contextlib.suppress(OSError):
            h.wfile.write(data)
