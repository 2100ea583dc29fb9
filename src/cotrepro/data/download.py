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
import re
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from cotrepro.io import atomic_write_text, retry_download, sha256_file, temp_beside

log = logging.getLogger("cotrepro.data.download")

_CHUNK = 1 << 20
_RETRY_STATUS = {408, 429}  # and every 5xx


class DownloadError(RuntimeError):
    """A download failed for good; the message names the URL, the reason and the attempts."""


class ChecksumError(DownloadError):
    """The bytes served do not have the pinned sha256; the message names the URL and both digests."""


class _Transient(Exception):
    """A failure that another attempt may not meet."""


class _Permanent(Exception):
    """A failure that another attempt would meet again."""


def fetch_url(
    url: str, dest: Path, sha256: str, *, retries: int = 3, backoff_seconds: float = 2.0, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest`` unless ``dest`` already has the pinned ``sha256``; return ``dest``.

    Transient failures (connection errors, time-outs, HTTP 408/429/5xx, truncated bodies) are
    retried ``retries`` more times, waiting ``backoff_seconds * 2**(attempt - 1)``; anything else fails
    at once with :class:`DownloadError`, and other bytes than pinned with :class:`ChecksumError`.
    A ``dest.sha256`` sidecar in sha256sum format is written next to the file.
    """
    dest, sha256 = Path(dest), _check_arguments(url, sha256, retries)
    if dest.is_file():
        actual = sha256_file(dest)
        if actual == sha256:
            _write_sidecar(dest, sha256)
            return dest
        # A file that contradicts its pin is of no use and must not be mistaken for the pinned one.
        log.warning("%s has sha256 %s, not the pinned %s; removing it and downloading again", dest, actual, sha256)
        dest.unlink()
        _sidecar(dest).unlink(missing_ok=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    retry_download(
        lambda: _download_verified(url, dest, sha256, timeout),
        what=url,
        diagnose=lambda err: (isinstance(err, _Transient), str(err)),
        error=DownloadError,
        retries=retries,
        backoff_seconds=backoff_seconds,
        log=log,
        handles=(_Transient, _Permanent),
    )
    _write_sidecar(dest, sha256)
    return dest


def _check_arguments(url: str, sha256: str, retries: int) -> str:
    """The pin in lower case, once the arguments are known to make sense."""
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, not {retries}")
    if urlsplit(url).scheme not in ("http", "https", "file"):
        raise ValueError(f"cannot download {url!r}: the URL must start with http://, https:// or file://")
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"the pinned sha256 for {url} must be 64 hex digits, not {sha256!r}")
    return sha256.lower()


def _download_verified(url: str, dest: Path, sha256: str, timeout: float) -> None:
    with temp_beside(dest) as tmp:
        actual = _stream(url, tmp, timeout)
        if actual != sha256:
            raise ChecksumError(
                f"rejected {url}: its sha256 is {actual}, but the pinned sha256 is {sha256}; "
                "the file was not kept (if the source changed on purpose, update the pin)"
            )
        os.replace(tmp, dest)


def _stream(url: str, tmp: Path, timeout: float) -> str:
    """Stream ``url`` into ``tmp`` and return the sha256 of what arrived."""
    h = hashlib.sha256()
    with open(tmp, "wb") as out:
        for chunk in _chunks(url, timeout):
            out.write(chunk)
            h.update(chunk)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest()


def _chunks(url: str, timeout: float):
    """The body of ``url`` in chunks, with network failures raised as _Transient or _Permanent.

    A generator, so that local failures (a full disk) while writing are not mistaken for
    network ones.
    """
    received, announced = 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            announced = resp.headers.get("Content-Length")
            while chunk := resp.read(_CHUNK):
                received += len(chunk)
                yield chunk
    except urllib.error.HTTPError as err:
        transient = err.code >= 500 or err.code in _RETRY_STATUS
        raise (_Transient if transient else _Permanent)(f"HTTP {err.code} {err.reason}") from err
    except http.client.IncompleteRead as err:
        received += len(err.partial)
    except urllib.error.URLError as err:
        raise _network_failure(err.reason) from err
    except (OSError, http.client.HTTPException) as err:
        raise _network_failure(err) from err
    if announced is not None and received < int(announced):
        raise _Transient(f"truncated body ({received} of {announced} bytes)")


def _network_failure(reason) -> Exception:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _Permanent(f"TLS certificate not trusted ({reason})")
    if isinstance(reason, ConnectionRefusedError):
        return _Transient("connection refused")
    if isinstance(reason, ConnectionResetError):
        return _Transient("connection reset")
    if isinstance(reason, TimeoutError):
        return _Transient("timed out")
    if isinstance(reason, (OSError, http.client.HTTPException)):
        return _Transient(str(reason) or type(reason).__name__)
    return _Permanent(str(reason))


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _write_sidecar(dest: Path, digest: str) -> None:
    side, text = _sidecar(dest), f"{digest}  {dest.name}\n"
    if not (side.is_file() and side.read_text(encoding="utf-8") == text):
        atomic_write_text(side, text)
