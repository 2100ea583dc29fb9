"""Pinned-URL downloads against a real local HTTP server: retries, checksums, atomic writes."""

import hashlib

import pytest

from cotrepro.download import ChecksumError, DownloadError, fetch_url, sha256_file
from servers import StaticServer

BODY = b'{"question": "Ann has 2 cats and gets 3 more.", "answer": "2 + 3 = 5\\n#### 5"}\n' * 50
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(retries=3, backoff_seconds=0.01, timeout=5)


def gets(server):
    return [p for m, p in server.requests if m == "GET"]


def test_retries_transient_failures_then_succeeds(tmp_path):
    dest = tmp_path / "data" / "test.jsonl"
    with StaticServer({"/f.jsonl": BODY}, fail_first=2) as s:
        fetch_url(s.base_url + "/f.jsonl", dest, SHA, **FAST)
    assert len(gets(s)) == 3
    assert dest.read_bytes() == BODY
    assert (tmp_path / "data" / "test.jsonl.sha256").read_text() == f"{SHA}  test.jsonl\n"


def test_persistent_failure_names_url_reason_and_attempts(tmp_path):
    with StaticServer({"/f.jsonl": BODY}, fail_first=100) as s:
        with pytest.raises(DownloadError) as err:
            fetch_url(s.base_url + "/f.jsonl", tmp_path / "f.jsonl", SHA, **FAST)
    msg = str(err.value)
    assert f"{s.base_url}/f.jsonl" in msg and "HTTP 503" in msg and "after 4 attempt(s)" in msg
    assert list(tmp_path.iterdir()) == []


def test_not_found_fails_at_once(tmp_path):
    with StaticServer({}) as s:
        with pytest.raises(DownloadError, match="HTTP 404"):
            fetch_url(s.base_url + "/missing.jsonl", tmp_path / "f.jsonl", SHA, **FAST)
    assert len(gets(s)) == 1


def test_checksum_mismatch_is_rejected_and_nothing_kept(tmp_path):
    dest = tmp_path / "f.jsonl"
    with StaticServer({"/f.jsonl": BODY + b"tampered"}) as s:
        with pytest.raises(ChecksumError) as err:
            fetch_url(s.base_url + "/f.jsonl", dest, SHA, **FAST)
    assert SHA in str(err.value) and "/f.jsonl" in str(err.value)
    assert len(gets(s)) == 1  # a mirror serving other bytes is not asked again
    assert list(tmp_path.iterdir()) == []


def test_wrong_existing_file_is_replaced_only_by_verified_bytes(tmp_path):
    dest = tmp_path / "f.jsonl"
    dest.write_bytes(b"stale")
    with StaticServer({"/f.jsonl": BODY}) as s:
        fetch_url(s.base_url + "/f.jsonl", dest, SHA, **FAST)
    assert sha256_file(dest) == SHA


def test_existing_verified_file_is_not_downloaded_again(tmp_path):
    dest = tmp_path / "f.jsonl"
    dest.write_bytes(BODY)
    with StaticServer({"/f.jsonl": BODY}) as s:
        fetch_url(s.base_url + "/f.jsonl", dest, SHA, **FAST)
    assert s.requests == []


def test_truncated_body_is_retried(tmp_path):
    dest = tmp_path / "f.jsonl"
    with StaticServer({"/f.jsonl": BODY}, truncate=1) as s:
        fetch_url(s.base_url + "/f.jsonl", dest, SHA, **FAST)
    assert len(gets(s)) == 2 and dest.read_bytes() == BODY


def test_connection_refused_is_reported(tmp_path):
    with StaticServer({}) as s:
        url = s.base_url + "/f.jsonl"
    with pytest.raises(DownloadError, match="connection refused"):
        fetch_url(url, tmp_path / "f.jsonl", SHA, retries=1, backoff_seconds=0, timeout=5)
