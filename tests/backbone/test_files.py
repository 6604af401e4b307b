"""The local file store: content-addressed, idempotent, durable writes, clear errors for unknown keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cxstack.kit.errors import NotFound
from cxstack.kit.files import key_from_url, local_file_store


def test_files_are_stored_once_under_the_sha256_of_their_bytes(tmp_path: Path) -> None:
    store = local_file_store(tmp_path)
    data = b"%PDF-1.4 receipt"
    stored = store.put(data)
    assert stored.key == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.url == f"cxstack-file://sha256/{stored.key}"
    assert store.put(data) == stored
    assert store.get(stored.key) == data
    assert store.exists(stored.key)
    on_disk = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    assert on_disk == [tmp_path / "files" / stored.key[:2] / stored.key[2:4] / stored.key]
    assert key_from_url(stored.url) == stored.key


def test_unknown_and_malformed_keys_are_not_found(tmp_path: Path) -> None:
    store = local_file_store(tmp_path)
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")
    with pytest.raises(NotFound):
        key_from_url("https://example.com/file.pdf")
    assert not store.exists("f" * 64)
