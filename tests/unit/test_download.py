"""Pinned-URL downloads against a real local HTTP server: retries, checksums, atomic writes."""

import hashlib
import logging
import os
import stat
import time

import pytest
from servers import StaticServer

from cotrepro.data.download import ChecksumError, DownloadError, fetch_url, sha256_file

BODY = b'{"question": "Ann has 2 cats and gets 3 more.", "answer": "2 + 3 = 5\\n#### 5"}\n' * 50
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(retries=3, backoff_seconds=0.001, timeout=5)


def fetch(dest, **server_options):
    """Serve BODY at /f.jsonl and fetch it into ``dest``; return the server (stopped) and the error, if any."""
    with StaticServer({"/f.jsonl": BODY}, **server_options) as server:
        try:
            fetch_url(server.url("/f.jsonl"), dest, SHA, **FAST)
        except DownloadError as err:
            return server, err
    return server, None


def test_retries_transient_failures_then_succeeds(tmp_path, caplog):
    dest = tmp_path / "data" / "test.jsonl"
    with caplog.at_level(logging.WARNING, logger="cotrepro.data.download"):
        server, err = fetch(dest, fail_first=2)
    assert err is None and server.hits("GET") == 3
    assert dest.read_bytes() == BODY
    assert (tmp_path / "data" / "test.jsonl.sha256").read_text() == f"{SHA}  test.jsonl\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["test.jsonl", "test.jsonl.sha256"]
    assert len(caplog.records) == 2 and "HTTP 503" in caplog.records[0].getMessage()


def test_waits_double_from_the_backoff(tmp_path, caplog):
    backoff = 0.1
    started = time.monotonic()
    with (
        StaticServer({"/f.jsonl": BODY}, fail_first=3) as server,
        caplog.at_level(logging.WARNING, logger="cotrepro.data.download"),
    ):
        fetch_url(server.url("/f.jsonl"), tmp_path / "f.jsonl", SHA, retries=3, backoff_seconds=backoff, timeout=5)
    waits = [0.1, 0.2, 0.4]  # backoff * 2**(attempt - 1)
    assert [r.getMessage().rsplit("retrying in ", 1)[1] for r in caplog.records] == [f"{w:.1f} s" for w in waits]
    assert [r.getMessage().split(" to download")[0] for r in caplog.records] == [
        "attempt 1 of 4",
        "attempt 2 of 4",
        "attempt 3 of 4",
    ]
    assert server.hits("GET") == 4 and time.monotonic() - started >= sum(waits)


def test_persistent_failure_names_url_reason_and_attempts(tmp_path):
    server, err = fetch(tmp_path / "f.jsonl", fail_first=100)
    assert type(err) is DownloadError and server.hits("GET") == 4
    assert str(err).startswith(f"could not download {server.url('/f.jsonl')} after 4 attempt(s): ")
    assert "HTTP 503 Service Unavailable" in str(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [408, 429, 500])
def test_other_transient_statuses_are_retried(tmp_path, status):
    server, err = fetch(tmp_path / "f.jsonl", fail_first=1, fail_status=status)
    assert err is None and server.hits("GET") == 2


@pytest.mark.parametrize("status", [403, 404])
def test_client_errors_fail_at_once(tmp_path, status):
    server, err = fetch(tmp_path / "f.jsonl", fail_first=1, fail_status=status)
    assert type(err) is DownloadError and f"after 1 attempt(s): HTTP {status}" in str(err)
    assert server.hits("GET") == 1 and list(tmp_path.iterdir()) == []


def test_checksum_mismatch_is_rejected_and_nothing_kept(tmp_path):
    server, err = fetch(tmp_path / "f.jsonl", overrides={"/f.jsonl": BODY + b"tampered"})
    assert isinstance(err, ChecksumError)
    assert str(err).startswith(
        f"rejected {server.url('/f.jsonl')}: its sha256 is "
        f"{hashlib.sha256(BODY + b'tampered').hexdigest()}, but the pinned sha256 is {SHA}"
    )
    assert server.hits("GET") == 1  # a mirror serving other bytes is not asked again
    assert list(tmp_path.iterdir()) == []


def test_existing_file_with_other_bytes_is_never_kept(tmp_path):
    dest = tmp_path / "f.jsonl"
    dest.write_bytes(b"stale")
    _, err = fetch(dest, overrides={"/f.jsonl": b"also wrong"})
    assert isinstance(err, ChecksumError) and list(tmp_path.iterdir()) == []
    dest.write_bytes(b"stale")
    _, err = fetch(dest)
    assert err is None and sha256_file(dest) == SHA


def test_existing_verified_file_is_not_downloaded_again(tmp_path):
    dest = tmp_path / "f.jsonl"
    dest.write_bytes(BODY)
    server, err = fetch(dest)
    assert err is None and server.requests == []
    assert (tmp_path / "f.jsonl.sha256").read_text() == f"{SHA}  f.jsonl\n"


def test_truncated_body_is_retried(tmp_path):
    dest = tmp_path / "f.jsonl"
    server, err = fetch(dest, truncate=1)
    assert err is None and server.hits("GET") == 2 and dest.read_bytes() == BODY


def test_body_truncated_every_time_is_reported(tmp_path):
    server, err = fetch(tmp_path / "f.jsonl", truncate=True)
    assert type(err) is DownloadError and server.hits("GET") == 4
    assert f"truncated body ({len(BODY) // 2} of {len(BODY)} bytes)" in str(err)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_retried_and_reported(tmp_path):
    with StaticServer({}) as server:
        url = server.url("/f.jsonl")
    with pytest.raises(DownloadError, match=r"after 2 attempt\(s\): connection refused"):
        fetch_url(url, tmp_path / "f.jsonl", SHA, retries=1, backoff_seconds=0, timeout=5)


@pytest.mark.parametrize(
    "url, pin, message",
    [
        ("/no/scheme.jsonl", SHA, "must start with http"),
        ("http://127.0.0.1:9/f.jsonl", "abc123", "must be 64 hex digits"),
    ],
)
def test_bad_arguments_are_named(tmp_path, url, pin, message):
    with pytest.raises(ValueError, match=message):
        fetch_url(url, tmp_path / "f.jsonl", pin)


def test_atomically_written_files_get_ordinary_permissions(tmp_path):
    from cotrepro.io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
    finally:
        os.umask(old)
    # Readable by others (0644 under umask 022), not private like mkstemp's 0600.
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
