"""Checks of API keys on the request path: tenant keys looked up in groups, and their last use recorded
off the path.

Keys are checked against the database on every request, not cached: a key revoked by any process is
refused by every other on its next request. The check is a prepared point read by the key's unique digest
(on the embedded driver on the event loop's own connection, tens of microseconds). On PostgreSQL the
requests that arrive while a check is under way are checked together in the next one (``KeyLookups``, one
read transaction), so under load the checks cost one round trip per group rather than per request, and
every request is still checked by a read that began after it arrived. A key's ``last_used_at`` is written
off the request's path, at most once a minute per key (``KeyUsage``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial

import structlog

from cxstack.backbone.database import Database
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.tenants.service import (
    LAST_USED_RESOLUTION,
    KeyHolder,
    check_key_kind,
    digest_of,
    find_key_holders,
)
from cxstack.kit.clock import Clock
from cxstack.kit.errors import Unauthorized

log = structlog.get_logger("cxstack.auth")


class KeyLookups:
    """Checks tenant keys against the database; on PostgreSQL the keys of requests that wait together in one
    read transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: dict[str, list[asyncio.Future[KeyHolder | None]]] = {}
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def holder(self, key: str) -> KeyHolder:
        """Return the holder of a valid tenant key; raises WrongKeyKind, Unauthorized."""
        check_key_kind(key)
        digest = digest_of(key)
        if self._db.driver == "sqlite":  # read inline, on the event loop: nothing to wait beside
            holders = await self._db.read_rows(
                partial(find_key_holders, digests=[digest]), one_statement=True
            )
            found = holders.get(digest)
        else:
            future: asyncio.Future[KeyHolder | None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(digest, []).append(future)
            if not self._running:
                self._running = True
                self._task = asyncio.get_running_loop().create_task(self._run())
            found = await future
        if found is None:
            raise Unauthorized("the API key is not valid")
        return found

    async def _run(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, {}
                try:
                    found = await self._db.read_rows(partial(find_key_holders, digests=list(group)))
                except BaseException as error:
                    for futures in group.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for digest, futures in group.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(digest))
        finally:
            self._running = False


class KeyUsage:
    """Writes keys' ``last_used_at`` in the background: at most one write a minute per key from this
    process (and the write itself skips a key another process touched within the minute)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._scheduled: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, key_id: str, last_used_at: datetime | None, record: Callable[[UnitOfWork], bool]) -> None:
        """Note a use of ``key_id`` (whose stored ``last_used_at`` is given); returns at once."""
        now = self._clock.now()
        if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
            return
        scheduled = self._scheduled.get(key_id)
        if scheduled is not None and now - scheduled < LAST_USED_RESOLUTION:
            return
        if len(self._scheduled) > 10_000:
            self._scheduled.clear()
        self._scheduled[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write(key_id, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key_id: str, record: Callable[[UnitOfWork], bool]) -> None:
        try:
            await self._db.write(record, background=True)
        except Exception as error:  # a lost timestamp must never fail anything else
            log.warning("key_last_used_not_recorded", key_id=key_id, error=repr(error))

    async def drain(self) -> None:
        """Wait for the writes scheduled so far (before the database stops)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
