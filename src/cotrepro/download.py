"""Downloads of pinned third-party files: retried when the failure may pass, checked by sha256.

A file is written to a temporary name beside its destination and renamed only once its
checksum matches, so a destination never holds partial or wrong bytes. A checksum mismatch is
not retried: a server that sends other bytes will send them again.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("cotrepro.download")

_CHUNK = 1 << 20
_TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download failed for good; the message names the URL, the reason and the attempts."""


class ChecksumError(DownloadError):
    """The bytes served do not have the pinned sha256."""


class _Transient(Exception):
    """A failure worth another attempt."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_once(url: str, tmp: Path, timeout: float) -> str:
    """Stream ``url`` into ``tmp`` and return the sha256 of what arrived."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            expected = resp.headers.get("Content-Length")
            received = 0
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
                received += len(chunk)
            if expected is not None and received < int(expected):
                raise _Transient(f"truncated body ({received} of {expected} bytes)")
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} {err.reason}"
        if err.code in _TRANSIENT_HTTP:
            raise _Transient(reason) from err
        raise DownloadError(reason) from err
    except http.client.IncompleteRead as err:
        raise _Transient(f"truncated body ({len(err.partial)} bytes received)") from err
    except urllib.error.URLError as err:
        raise _Transient(_describe(err.reason)) from err
    except (ConnectionError, socket.timeout, TimeoutError, http.client.HTTPException) as err:
        raise _Transient(_describe(err)) from err
    return h.hexdigest()


def _describe(reason) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(reason) or type(reason).__name__


def _write_sidecar(dest: Path, digest: str) -> None:
    Path(f"{dest}.sha256").write_text(f"{digest}  {dest.name}\n", encoding="utf-8")


def fetch_url(url: str, dest: Path, sha256: str, *, retries: int = 3, backoff_seconds: float = 2.0,
              timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless ``dest`` already has the pinned ``sha256``.

    Transient failures (connection errors, time-outs, HTTP 408/429/5xx, truncated bodies) are
    retried ``retries`` times with exponential back-off; anything else fails at once. A
    ``dest.sha256`` sidecar in sha256sum format is written next to the file.
    """
    dest = Path(dest)
    if dest.exists() and sha256_file(dest) == sha256:
        _write_sidecar(dest, sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempts = retries + 1
    for attempt in range(attempts):
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(fd)
        tmp = Path(name)
        try:
            got = _fetch_once(url, tmp, timeout)
            if got != sha256:
                raise ChecksumError(f"rejected {url}: its sha256 is {got}, the pinned sha256 is {sha256}; "
                                    "the source or mirror serves other bytes than the pinned revision")
            os.replace(tmp, dest)
            _write_sidecar(dest, sha256)
            return dest
        except _Transient as err:
            if attempt + 1 == attempts:
                raise DownloadError(f"could not download {url} after {attempts} attempt(s): {err}") from err
            wait = backoff_seconds * 2 ** attempt
            log.warning("attempt %d of %d for %s failed (%s); retrying in %.1f s", attempt + 1, attempts, url,
                        err, wait)
            time.sleep(wait)
        except ChecksumError:
            raise
        except DownloadError as err:
            raise DownloadError(f"could not download {url} after {attempt + 1} attempt(s): {err}") from err
        finally:
            tmp.unlink(missing_ok=True)
    raise AssertionError("unreachable")
