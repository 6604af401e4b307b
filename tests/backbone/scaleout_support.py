"""Helpers for the scale-out driver's tests: a probe event catalog, fresh databases and streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
import pytest
from nats.js.errors import NotFoundError

from cxstack.backbone.catalog import EventCatalog
from cxstack.backbone.database import Database
from cxstack.backbone.envelope import Event
from cxstack.backbone.events import EventPayload
from cxstack.backbone.relay import stream_name
from cxstack.backbone.subscriptions import EventHandlers, SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork

NATS_URL = os.environ.get("CXSTACK_TEST_NATS_URL")
NATS_SKIP_REASON = "NATS tests need CXSTACK_TEST_NATS_URL (CI sets it)"
TENANT = "ten_scaleout"
PARTITIONS = 16
SUBSCRIPTION = "tests.probe"


class ProbeRecorded(EventPayload, type="probe.recorded"):
    """A test event."""

    n: int


class ProbeHandled(EventPayload, type="probe.handled"):
    """A test subscription handled a probe."""

    of: str
    n: int
    worker: str


def probe_catalog() -> EventCatalog:
    return EventCatalog([ProbeRecorded, ProbeHandled])


def require_nats() -> str:
    if not NATS_URL:
        pytest.skip(NATS_SKIP_REASON)
    return NATS_URL


def unique_prefix() -> str:
    """A stream prefix of this test alone, so that parallel runs never share a stream."""
    return f"cxtest_{uuid.uuid4().hex[:12]}"


async def empty_database(url: str) -> None:
    """Empty every table of the migrated PostgreSQL database at ``url``."""
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def started_database(url: str, *, partitions: int = 16) -> Database:
    db = Database(url, catalog=probe_catalog(), partitions=partitions)
    await db.start()
    return db


async def record_probes(db: Database, subjects: Sequence[str], *, start: int = 0) -> list[Event]:
    """Publish one ``probe.recorded`` per subject, numbered from ``start``, in one transaction."""

    def publish(uow: UnitOfWork) -> list[Event]:
        return [
            uow.publish(ProbeRecorded(n=start + i), tenant_id=TENANT, subject=subject)
            for i, subject in enumerate(subjects)
        ]

    return await db.write(publish)


async def logged(url: str, event_type: str) -> list[dict[str, Any]]:
    """The log's events of ``event_type`` in log order, as dicts of their columns (``data`` decoded)."""
    rows = await fetch(url, "SELECT * FROM events WHERE type = $1 ORDER BY seq", event_type)
    return [{**dict(row), "data": json.loads(row["data"])} for row in rows]


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    subject: str
    headers: dict[str, str]
    body: dict[str, Any]


async def stream_messages(nats_url: str, prefix: str) -> list[StreamMessage]:
    """Every message of the prefix's stream, in stream order (empty if there is no stream)."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        try:
            info = await js.stream_info(stream_name(prefix))
        except NotFoundError:
            return []
        messages: list[StreamMessage] = []
        if not info.state.messages:
            return messages
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg(stream_name(prefix), seq)
            assert raw.subject is not None and raw.data is not None
            messages.append(StreamMessage(seq, raw.subject, dict(raw.headers or {}), json.loads(raw.data)))
        return messages
    finally:
        await client.close()


async def delete_stream(nats_url: str, prefix: str) -> None:
    client = await nats.connect(nats_url)
    try:
        with contextlib.suppress(NotFoundError):
            await client.jetstream().delete_stream(stream_name(prefix))
    finally:
        await client.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 15.0, every_s: float = 0.05
) -> None:
    """Wait until ``check`` answers True; fail the test after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                return
            await asyncio.sleep(every_s)


def probe_registry(worker: str) -> SubscriptionRegistry:
    """A subscription that records, in the log and in the handler's own transaction, who handled what."""

    def handle(uow: UnitOfWork, probe: ProbeRecorded, event: Event) -> None:
        uow.publish(
            ProbeHandled(of=event.id, n=probe.n, worker=worker), tenant_id=event.tenant, subject=event.subject
        )

    registry = SubscriptionRegistry()
    registry.add(SUBSCRIPTION, EventHandlers({ProbeRecorded: handle}))
    return registry


async def handled_everything(url: str) -> bool:
    recorded = await logged(url, "probe.recorded")
    handled = await logged(url, "probe.handled")
    return len(handled) >= len(recorded)


async def assert_each_handled_once_in_subject_order(url: str) -> list[ProbeHandled]:
    recorded = await logged(url, "probe.recorded")
    handled = await logged(url, "probe.handled")
    causes = Counter(row["causation_id"] for row in handled)
    assert causes == Counter(row["id"] for row in recorded), "every event handled exactly once"
    order: dict[str, list[int]] = defaultdict(list)
    for row in handled:
        order[row["subject"]].append(row["data"]["n"])
    expected: dict[str, list[int]] = defaultdict(list)
    for row in recorded:
        expected[row["subject"]].append(row["data"]["n"])
    assert order == expected, "each subject's events handled in the order they were recorded"
    return [ProbeHandled.model_validate(row["data"]) for row in handled]
