"""How SQLite runs the queries of a customer lookup: by index, never through a tenant's every row.

The embedded driver has no ANALYZE statistics, so SQLite picks indexes by their shape alone; with the
single-column ``tenant_id`` index every table has, a query can end up reading all of a tenant's rows
(300 ms a lookup at a million customers). The plan does not depend on how many rows there are, so a
small database shows the plan a large one gets.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from tests.conftest import TenantKey
from tests.records.query_plans import TENANT_ONLY, captured, plans

from cxstack.records.customers.service import lookup_customer
from cxstack.runtime import Runtime


@pytest.mark.parametrize(("kind", "value"), [("email", "ADA@example.com"), ("phone", "(415) 555-2671")])
async def test_lookup_searches_indexes_and_never_scans_a_tenant(
    runtime: Runtime, api: httpx.AsyncClient, tenant: TenantKey, kind: str, value: str
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    created = await api.post("/v1/customers", json={"email": "ada@example.com", "phone": "+14155552671"})
    assert created.status_code == 201, created.text
    engine = create_engine(runtime.settings.database_url)
    try:
        with Session(engine) as session, captured(engine) as statements:
            found = lookup_customer(session, tenant_id=tenant.tenant_id, kind=kind, value=value)
            assert found.id == created.json()["id"]
            steps_of = plans(session.connection(), statements)
    finally:
        engine.dispose()

    # One statement: the customer the identity is linked to, joined, with its identities as one column.
    assert len(steps_of) == 1
    (steps,) = steps_of.values()
    assert any("SEARCH identities USING" in step for step in steps), steps
    assert any("SEARCH customers USING" in step for step in steps), steps
    assert any("SEARCH their_identities USING INDEX" in step for step in steps), steps
    for statement, steps in steps_of.items():
        for step in steps:
            assert not step.startswith("SCAN"), f"{step}\n  in {statement}"
            assert not TENANT_ONLY.search(step), f"{step}\n  in {statement}"
