"""Local HTTP servers for download tests: a static file server and a Hugging Face Hub look-alike.

Both listen on 127.0.0.1 on a free port, run in a background thread, are context managers,
record every request as ``(method, path)`` (the path with its query string) in ``.requests``,
and can answer the first ``fail_first`` requests whose ``"METHOD /path?query"`` contains
``fail_match`` (e.g. ``"GET /org/repo/resolve/"``; empty: any) with ``fail_status`` (503), to
exercise retries.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class LocalHTTPServer:
    """A threading HTTP server on a free localhost port, serving from a daemon thread inside ``with``."""

    def _listen(self, handler: type[BaseHTTPRequestHandler]) -> str:
        """Bind ``handler`` to a free port and return the server's base URL."""
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        # A short poll interval makes shutdown, which waits for the next poll, quick.
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Server(LocalHTTPServer):
    """Life cycle, request log and fault injection shared by both servers."""

    def __init__(self, *, fail_first: int = 0, fail_match: str = "", fail_status: int = 503):
        self.fail_first, self.fail_match, self.fail_status = fail_first, fail_match, fail_status
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

        self.base_url = self._listen(Handler)

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return self.base_url + path

    def hits(self, method: str | None = None, contains: str = "") -> int:
        """How many requests (of ``method``, if given) had ``contains`` in their path."""
        return sum(1 for m, p in self.requests if method in (None, m) and contains in p)

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.requests.append((method, h.path))
            failing = self.fail_first > 0 and self.fail_match in f"{method} {h.path}"
            if failing:
                self.fail_first -= 1
        if failing:
            self.send(h, method, self.fail_status, b"try again later")
        else:
            self.handle(h, method, urlsplit(h.path))

    @staticmethod
    def send(h, method, status, body=b"", headers=None, content_length=None):
        """Answer with ``body``; ``content_length`` may announce another size than sent."""
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        h.end_headers()
        if method == "GET":
            h.wfile.write(body)

    def handle(self, h, method, url):
        raise NotImplementedError


class StaticServer(_Server):
    """Serves ``{url_path: bytes}``.

    ``overrides`` (``{url_path: bytes}``, also settable later) are served instead of the real
    bytes, for a mirror that serves the wrong file. ``truncate=True`` makes every GET announce the
    full Content-Length, send half the body and close; an int truncates only the first that many.
    """

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        fail_first: int = 0,
        fail_match: str = "",
        fail_status: int = 503,
        truncate: bool | int = False,
        overrides: dict[str, bytes] | None = None,
    ):
        super().__init__(fail_first=fail_first, fail_match=fail_match, fail_status=fail_status)
        self.files, self.overrides = dict(files), dict(overrides or {})
        self.truncate = math.inf if truncate is True else int(truncate)

    def handle(self, h, method, url):
        body = self.overrides.get(url.path, self.files.get(url.path))
        if body is None:
            self.send(h, method, 404, b"not found")
        elif method == "GET" and self.truncate > 0:
            self.truncate -= 1
            self.send(h, method, 200, body[: len(body) // 2], content_length=len(body))
            h.close_connection = True
        else:
            self.send(h, method, 200, body)


_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".model")
"""Files a Hub repository's .gitattributes usually stores in LFS."""


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(data: bytes) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
    ).encode()


class HubServer(_Server):
    """Enough of the Hugging Face Hub's HTTP protocol for huggingface_hub's model_info,
    list_repo_tree, hf_hub_download and snapshot_download (set HF_ENDPOINT to ``base_url``).

    ``repos``: ``{repo_id: {"commit": 40-hex, "branch": "main" (default), "files": {path: bytes}}}``;
    a revision is the branch name or the commit. Files ending in one of ``_LFS_SUFFIXES`` are
    described as LFS files (sha256 as X-Linked-Etag, like the Hub, and in model_info's ``lfs`` with
    files_metadata); other files carry their git blob id; no Xet headers are ever sent,
    so huggingface_hub downloads over plain HTTP.

    Accounts: ``tokens`` maps a valid token to its user name, which ``/api/whoami-v2`` answers (401
    for any other token). A repo with ``"gated": True`` lets only the users in its ``"granted"``
    list through ``/api/models/{repo}/auth-check`` (403 GatedRepo otherwise, like the Hub).
    """

    DATE = "2024-01-01T00:00:00.000Z"

    def __init__(
        self,
        repos: dict[str, dict],
        *,
        tokens: dict[str, str] | None = None,
        fail_first: int = 0,
        fail_match: str = "",
        fail_status: int = 503,
        corrupt: dict[str, bytes] | None = None,
    ):
        super().__init__(fail_first=fail_first, fail_match=fail_match, fail_status=fail_status)
        self.repos, self.tokens = repos, dict(tokens or {})
        # path -> bytes served in a download's body instead of the file's, while every header and
        # the metadata still describe the real file: a mirror or proxy that damages a download.
        self.corrupt = dict(corrupt or {})

    def user(self, h) -> str | None:
        """The user whose valid token the request carries (None: no token or an invalid one)."""
        auth = h.headers.get("Authorization") or ""
        return self.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None

    def handle(self, h, method, url):
        if url.path == "/api/whoami-v2":
            user = self.user(h)
            if user is None:
                return self._error(h, method, 401, None, "Invalid credentials in Authorization header")
            return self._json(h, method, {"type": "user", "name": user, "auth": {"type": "access_token"}})
        route = _route(url.path)
        if route is None:
            return self._error(h, method, 404, None, "Not Found")
        action, repo_id, revision, path = route
        repo = self.repos.get(repo_id)
        if repo is None:
            # Like the Hub for anonymous callers: 401, whether the repo is missing or private.
            self._error(h, method, 401, "RepoNotFound", "Repository not found")
        elif revision not in (None, repo.get("branch", "main"), repo["commit"]):
            self._error(h, method, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        else:
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            getattr(self, action)(h, method, repo_id, repo, revision, path, query)

    # -- protocol pieces --------------------------------------------------------------------

    def _error(self, h, method, status, code, message, headers=None):
        """An error as the Hub sends it: JSON body, X-Error-Code and X-Error-Message headers."""
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(headers or {})}
        if code:
            headers["X-Error-Code"] = code
        self.send(h, method, status, json.dumps({"error": message}).encode(), headers)

    def _json(self, h, method, data):
        self.send(h, method, 200, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _model_info(self, h, method, repo_id, repo, revision, path, query):
        """``/api/models/{repo}[/revision/{revision}]``, with sizes and LFS details if ``blobs=true``."""
        siblings = [{"rfilename": p} for p in sorted(repo["files"])]
        if query.get("blobs") == "true":  # files_metadata=True
            for s in siblings:
                entry = self._entry(s["rfilename"], repo["files"][s["rfilename"]], repo, expand=False)
                s.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    s["lfs"] = {
                        "sha256": entry["lfs"]["oid"],
                        "size": entry["size"],
                        "pointerSize": entry["lfs"]["pointerSize"],
                    }
        self._json(
            h,
            method,
            {
                "_id": repo["commit"][:24],
                "id": repo_id,
                "modelId": repo_id,
                "sha": repo["commit"],
                "private": False,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": self.DATE,
                "createdAt": self.DATE,
                "siblings": siblings,
            },
        )

    def _auth_check(self, h, method, repo_id, repo, revision, path, query):
        """``/api/models/{repo}/auth-check``: 200 when the caller may download the repo."""
        user = self.user(h)
        if repo.get("gated") and user not in repo.get("granted", []):
            message = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated."
            return self._error(h, method, 403 if user else 401, "GatedRepo", message)
        self._json(h, method, {})

    def _entry(self, path, data, repo, expand):
        """A tree entry: git oid of the file, or for LFS files of its pointer, plus the LFS sha256."""
        if path.endswith(_LFS_SUFFIXES):
            pointer = _lfs_pointer(data)
            entry = {
                "type": "file",
                "oid": _git_oid(pointer),
                "size": len(data),
                "path": path,
                "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)},
            }
        else:
            entry = {"type": "file", "oid": _git_oid(data), "size": len(data), "path": path}
        if expand:
            entry["lastCommit"] = {"id": repo["commit"], "title": "Upload model", "date": self.DATE}
        return entry

    def _tree(self, h, method, repo_id, repo, revision, folder, query):
        """``/api/models/{repo}/tree/{revision}[/{folder}]``: files and folders below ``folder``,
        all of them with ``recursive=true``, else only its direct children."""
        recursive, expand = query.get("recursive") == "true", query.get("expand") == "true"
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        below = {p[len(prefix) :]: p for p in repo["files"] if p.startswith(prefix)}
        if prefix and not below:
            return self._error(
                h,
                method,
                404,
                "EntryNotFound",
                f"{folder} does not exist on {revision}",
                {"X-Repo-Commit": repo["commit"]},
            )
        entries = {}
        for rel, path in sorted(below.items()):
            dirs = rel.split("/")[:-1]
            for depth in range(1, len(dirs if recursive else dirs[:1]) + 1):
                sub = prefix + "/".join(dirs[:depth])
                entries.setdefault(sub, {"type": "directory", "oid": _git_oid(sub.encode()), "size": 0, "path": sub})
            if recursive or not dirs:
                entries[path] = self._entry(path, repo["files"][path], repo, expand)
        self._json(h, method, sorted(entries.values(), key=lambda e: (e["type"] != "directory", e["path"])))

    def _resolve(self, h, method, repo_id, repo, revision, path, query):
        """``HEAD``/``GET /{repo}/resolve/{revision}/{path}``, with Range support for resumed downloads."""
        commit = {"X-Repo-Commit": repo["commit"]}
        data = repo["files"].get(path)
        if data is None:
            return self._error(h, method, 404, "EntryNotFound", "Entry not found", commit)
        entry = self._entry(path, data, repo, expand=False)
        headers = {
            **commit,
            "ETag": f'"{entry["oid"]}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if "lfs" in entry:
            headers.update({"X-Linked-Etag": f'"{entry["lfs"]["oid"]}"', "X-Linked-Size": str(len(data))})
        start, end = _byte_range(h.headers.get("Range"), len(data))
        data = self.corrupt.get(path, data)
        if (start, end) == (0, len(data)):
            return self.send(h, method, 200, data, headers)
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        self.send(h, method, 206, data[start:end], headers)


_API_ACTIONS = {"revision": "_model_info", "tree": "_tree"}


def _route(url_path: str) -> tuple[str, str, str | None, str] | None:
    """``(handler, repo_id, revision, path in the repo)`` for a Hub URL path, or None."""
    parts = url_path.strip("/").split("/")
    if parts[:2] == ["api", "models"] and len(parts) >= 4:
        repo_id, rest = "/".join(parts[2:4]), parts[4:]
        if not rest:
            return "_model_info", repo_id, None, ""
        if rest == ["auth-check"]:
            return "_auth_check", repo_id, None, ""
        if len(rest) >= 2 and rest[0] in _API_ACTIONS:
            return _API_ACTIONS[rest[0]], repo_id, unquote(rest[1]), unquote("/".join(rest[2:]))
    elif len(parts) >= 5 and parts[2] == "resolve":
        return "_resolve", "/".join(parts[:2]), unquote(parts[3]), unquote("/".join(parts[4:]))
    return None


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """``[start, end)`` of a ``Range: bytes=a-[b]`` header (the whole body without one)."""
    if not header or not header.startswith("bytes="):
        return 0, size
    first, _, last = header[len("bytes=") :].partition("-")
    return int(first or 0), min(int(last) + 1, size) if last else size


def tiny_repo_files() -> dict[str, bytes]:
    """A small model repository: config, tokenizer config, safetensors weights, and decoys
    (pickled ``pytorch_model.bin``, a README) that cotrepro must not download."""
    import torch
    from safetensors.torch import save

    # A private generator keeps the weights fixed without touching torch's global seed.
    gen = torch.Generator().manual_seed(0)
    weights = save({"embed.weight": torch.randn(8, 4, generator=gen), "head.weight": torch.randn(4, 8, generator=gen)})
    return {
        "config.json": json.dumps({"model_type": "llama", "hidden_size": 4}).encode(),
        "tokenizer_config.json": b'{"model_max_length": 64}',
        "model.safetensors": weights,
        "pytorch_model.bin": b"pickled weights that must never be downloaded",
        "README.md": b"# tiny test model\n",
    }
