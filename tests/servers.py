"""Local HTTP servers for download tests: a static file server and a Hugging Face Hub look-alike.

Both listen on 127.0.0.1 on a free port, run in a background thread, record the requests they
see, and can fail the first N requests (503) to exercise retries.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class _Server:
    """Common life cycle, request log and fault injection."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server._dispatch(self, "GET")

            def do_HEAD(self):
                server._dispatch(self, "HEAD")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.requests.append((method, h.path))
            failing = self.fail_first > 0 and self.counts_for_faults(h.path)
            if failing:
                self.fail_first -= 1
        if failing:
            self.send(h, method, 503, b"try again later")
            return
        self.handle(h, method, urlsplit(h.path))

    @staticmethod
    def send(h, method, status, body=b"", headers=None, content_length=None):
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        h.end_headers()
        if method == "GET":
            h.wfile.write(body)

    def handle(self, h, method, url):
        raise NotImplementedError

    def counts_for_faults(self, path: str) -> bool:
        """Whether a request to ``path`` may be failed by ``fail_first``."""
        return True


class StaticServer(_Server):
    """Serves ``{path: bytes}``; ``truncate`` announces more bytes than it sends (once per path)."""

    def __init__(self, files: dict[str, bytes], fail_first: int = 0, truncate: int = 0):
        super().__init__(fail_first)
        self.files, self.truncate = dict(files), truncate

    def handle(self, h, method, url):
        body = self.files.get(url.path)
        if body is None:
            self.send(h, method, 404, b"not found")
        elif self.truncate > 0:
            self.truncate -= 1
            self.send(h, method, 200, body[: len(body) // 2], content_length=len(body))
            h.close_connection = True
        else:
            self.send(h, method, 200, body)


class HubServer(_Server):
    """Enough of the Hub's HTTP protocol for huggingface_hub's model_info and snapshot_download.

    ``repos``: ``{repo_id: {"commit": 40-hex, "files": {path: bytes}}}``; the branch is "main".
    """

    def __init__(self, repos: dict[str, dict], fail_first: int = 0):
        super().__init__(fail_first)
        self.repos = repos

    def counts_for_faults(self, path: str) -> bool:
        # huggingface_hub also calls endpoints unrelated to downloads; only fail the download protocol.
        return path.startswith("/api/models/") or "/resolve/" in path

    def _repo_and_rest(self, path: str, prefix: str, marker: str):
        """Split ``{prefix}{owner}/{name}/{marker}/{revision}[/{rest}]``."""
        parts = unquote(path[len(prefix):]).split("/")
        if len(parts) < 4 or parts[2] != marker:
            return None
        return f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])

    def _resolve(self, h, method, repo_id, revision):
        repo = self.repos.get(repo_id)
        if repo is None:
            self.send(h, method, 401, b"{}", {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return None
        if revision not in ("main", repo["commit"]):
            self.send(h, method, 404, b"{}", {"X-Error-Code": "RevisionNotFound",
                                              "X-Error-Message": f"Invalid rev id: {revision}"})
            return None
        return repo

    @staticmethod
    def _is_lfs(path: str) -> bool:
        return path.endswith((".safetensors", ".bin"))

    def _entry(self, path: str, data: bytes) -> dict:
        entry = {"type": "file", "path": path, "size": len(data),
                 "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
        if self._is_lfs(path):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}
        return entry

    def handle(self, h, method, url):
        path = url.path
        if path.startswith("/api/models/"):
            split = self._repo_and_rest(path, "/api/models/", "revision") or self._repo_and_rest(path, "/api/models/", "tree")
            if split is None:
                return self.send(h, method, 404, b"{}", {"X-Error-Code": "RepoNotFound"})
            repo_id, revision, rest = split
            repo = self._resolve(h, method, repo_id, revision)
            if repo is None:
                return
            if "/revision/" in path:
                body = {"id": repo_id, "modelId": repo_id, "sha": repo["commit"], "private": False,
                        "siblings": [{"rfilename": p} for p in sorted(repo["files"])]}
            else:
                body = [self._entry(p, d) for p, d in sorted(repo["files"].items())
                        if not rest or p.startswith(rest.rstrip("/") + "/")]
            return self.send(h, method, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        split = self._repo_and_rest(path, "/", "resolve")
        if split is None:
            return self.send(h, method, 404, b"not found")
        repo_id, revision, file_path = split
        repo = self._resolve(h, method, repo_id, revision)
        if repo is None:
            return
        data = repo["files"].get(file_path)
        if data is None:
            return self.send(h, method, 404, b"{}", {"X-Error-Code": "EntryNotFound",
                                                     "X-Error-Message": "Entry not found", "X-Repo-Commit": repo["commit"]})
        headers = {"X-Repo-Commit": repo["commit"], "ETag": f'"{self._entry(file_path, data)["oid"]}"',
                   "Content-Type": "application/octet-stream"}
        if self._is_lfs(file_path):
            headers.update({"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))})
        self.send(h, method, 200, data, headers)


def tiny_repo_files() -> dict[str, bytes]:
    """A small model repository: config, tokenizer config, safetensors weights and a pickled decoy."""
    import torch
    from safetensors.torch import save

    torch.manual_seed(0)
    weights = save({"embed.weight": torch.randn(8, 4), "head.weight": torch.randn(4, 8)})
    return {
        "config.json": json.dumps({"model_type": "llama", "hidden_size": 4}).encode(),
        "tokenizer_config.json": b'{"model_max_length": 64}',
        "model.safetensors": weights,
        "pytorch_model.bin": b"pickled weights that must never be downloaded",
        "README.md": b"# tiny test model\n",
    }
