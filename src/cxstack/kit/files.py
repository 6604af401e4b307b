"""The file store: attachments, raw messages and recordings, kept by the SHA-256 of their bytes.

Bytes are content-addressed: the same bytes are stored once, under the same key, whoever stores them, so
storing is idempotent and a retried upload costs nothing. The store is not how anyone finds a file: every
file is a record of one tenant (``records.files``), and only the tenant's own records lead to bytes here,
so the key of another tenant's bytes opens nothing. The store is written before the transaction
that refers to a file commits; a file whose transaction rolled back is left unreferenced (harmless, and
collectable later), never the other way round.

``LocalFileStore`` keeps files in a directory (the embedded driver, under ``Settings.data_dir``); an
S3-compatible store implements the same ``FileStore`` protocol for the scale-out driver.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cxstack.kit.errors import NotFound

#: The scheme of content references (``cxstack-file://sha256/<hex>``); a message naming one gets the file
#: of its own tenant with those bytes, never anyone else's.
URL_PREFIX = "cxstack-file://sha256/"
_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file in the store: its key (the SHA-256 of its bytes, hex) and size in bytes."""

    key: str
    size: int

    @property
    def url(self) -> str:
        return URL_PREFIX + self.key


def key_of(data: bytes) -> str:
    """Return the key ``data`` is stored under."""
    return hashlib.sha256(data).hexdigest()


def key_from_url(url: str) -> str:
    """Return the key of a ``cxstack-file://`` reference; raises NotFound for anything else."""
    key = url.removeprefix(URL_PREFIX)
    if not url.startswith(URL_PREFIX) or not _KEY.match(key):
        raise NotFound(f"{url!r} is not a cxstack file reference", field="url")
    return key


class FileStore(Protocol):
    def put(self, data: bytes) -> StoredFile:
        """Store ``data`` (a no-op when it is already there) and return where it is."""
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; raises NotFound."""
        ...

    def exists(self, key: str) -> bool: ...


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


class LocalFileStore:
    """Files in a local directory, at ``<root>/<key[:2]>/<key[2:4]>/<key>``, written durably."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._made: set[Path] = set()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise NotFound(f"{key!r} is not a file key (64 hex digits)", field="key")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> StoredFile:
        key = key_of(data)
        path = self._path(key)
        if path.exists():
            return StoredFile(key=key, size=len(data))
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        # Write beside the target (a name of this thread's own), flush to disk, then rename: a reader never
        # sees a partial file.
        temporary = path.parent / f".incoming-{os.getpid()}-{threading.get_ident()}-{key[:16]}"
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(handle, data)
                os.fsync(handle)
            finally:
                os.close(handle)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return StoredFile(key=key, size=len(data))

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no file is stored under {key}", field="key") from None

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


def local_file_store(data_dir: Path) -> LocalFileStore:
    """Return the file store of a process whose data directory is ``data_dir`` (``Settings.data_dir``)."""
    return LocalFileStore(Path(data_dir) / "files")
