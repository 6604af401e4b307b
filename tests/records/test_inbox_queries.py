"""How SQLite runs the inbox's queries: each through an index that starts with the tenant and the filter,
never through every conversation of the tenant (see ``tests.records.query_plans``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from tests.conftest import TenantKey
from tests.records.query_plans import TENANT_ONLY, captured, plans

from cxstack.governance.staff.visibility import Visibility
from cxstack.records.conversations import service
from cxstack.records.conversations.inbox import InboxFilter
from cxstack.runtime import Runtime

AGENT = Visibility(team_ids=frozenset({"tm_a"}), assignees=frozenset({"usr_ann"}))

#: name: (filter, sort, the index the conversations are read through)
INBOX_QUERIES: dict[str, tuple[InboxFilter, str, str]] = {
    "open, newest first": (
        InboxFilter(statuses=("open", "pending")),
        "created",
        "ix_conversations_tenant_status",
    ),
    "mine": (
        InboxFilter(statuses=("open", "pending"), assignee="usr_ann"),
        "created",
        "ix_conversations_tenant_assignee",
    ),
    "unassigned": (
        InboxFilter(statuses=("open", "pending"), unassigned=True),
        "created",
        "ix_conversations_tenant_assignee",
    ),
    "by last change": (
        InboxFilter(statuses=("open",)),
        "updated",
        "ix_conversations_tenant_status_updated_at",
    ),
    "a customer's": (InboxFilter(customer_id="cus_x"), "created", "ix_conversations_tenant_customer"),
    # The search's matches are gathered through the trigram indexes, then read by id.
    "searched": (
        InboxFilter(text="refund", text_customer_ids=("cus_x",)),
        "created",
        "ix_conversations_tenant_id_id",
    ),
    "searched, open": (
        InboxFilter(statuses=("open",), text="refund"),
        "created",
        "ix_conversations_tenant_status",
    ),
}


def _steps(runtime: Runtime, run: Callable[[Session], Any]) -> dict[str, list[str]]:
    engine = create_engine(runtime.settings.database_url)
    try:
        with Session(engine) as session, captured(engine, kinds=("SELECT",)) as statements:
            run(session)
            return plans(session.connection(), statements)
    finally:
        engine.dispose()


def _assert_no_scan(steps_of: dict[str, list[str]]) -> None:
    for statement, steps in steps_of.items():
        print("\n".join(steps), "\n---")
        for step in steps:
            # (reading a text index's hits, ``SCAN conversations_text VIRTUAL TABLE``, is a search)
            assert step.split()[:2] != ["SCAN", "conversations"], f"{step}\n  in {statement}"
            assert not TENANT_ONLY.search(step), f"{step}\n  in {statement}"


@pytest.mark.parametrize("name", sorted(INBOX_QUERIES))
@pytest.mark.parametrize("visibility", [None, AGENT], ids=["everything", "agent"])
async def test_inbox_lists_search_the_index_of_their_filter(
    runtime: Runtime, api: httpx.AsyncClient, tenant: TenantKey, name: str, visibility: Visibility | None
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    wanted, sort, index = INBOX_QUERIES[name]
    steps_of = _steps(
        runtime,
        lambda session: service.list_inbox(
            session,
            tenant_id=tenant.tenant_id,
            wanted=wanted,
            cursor=None,
            limit=50,
            sort="updated" if sort == "updated" else "created",
            newest_first=True,
            visibility=visibility,
        ),
    )
    assert len(steps_of) == 1
    (steps,) = steps_of.values()
    assert any(f"SEARCH conversations USING INDEX {index} " in step for step in steps), steps
    _assert_no_scan(steps_of)


async def test_the_counts_read_the_open_conversations_through_the_status_index(
    runtime: Runtime, api: httpx.AsyncClient, tenant: TenantKey
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    steps_of = _steps(
        runtime,
        lambda session: service.count_inbox(
            session,
            tenant_id=tenant.tenant_id,
            wanted=InboxFilter(channels=("email",)),
            visibility=AGENT,
            user_id="usr_ann",
            team_ids=("tm_a",),
        ),
    )
    assert len(steps_of) == 1
    (steps,) = steps_of.values()
    assert any("SEARCH conversations USING INDEX ix_conversations_tenant_status" in step for step in steps), (
        steps
    )
    _assert_no_scan(steps_of)
