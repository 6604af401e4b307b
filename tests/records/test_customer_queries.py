"""How SQLite runs the queries of a customer lookup: by index, never through a tenant's every row.

The embedded driver has no ANALYZE statistics, so SQLite picks indexes by their shape alone; with the
single-column ``tenant_id`` index every table has, a query can end up reading all of a tenant's rows
(300 ms a lookup at a million customers). The plan does not depend on how many rows there are, so a
small database shows the plan a large one gets.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session
from tests.conftest import TenantKey

from cxstack.records.customers.service import lookup_customer
from cxstack.runtime import Runtime

#: A search through an index on ``tenant_id`` alone: ``SEARCH identities USING INDEX ix (tenant_id=?)``.
TENANT_ONLY = re.compile(r"USING (?:COVERING )?INDEX \w+ \(tenant_id=\?\)$")


@pytest.mark.parametrize(("kind", "value"), [("email", "ADA@example.com"), ("phone", "(415) 555-2671")])
async def test_lookup_searches_indexes_and_never_scans_a_tenant(
    runtime: Runtime, api: httpx.AsyncClient, tenant: TenantKey, kind: str, value: str
) -> None:
    if runtime.db.driver != "sqlite":
        pytest.skip("the plans pinned here are SQLite's; PostgreSQL plans from statistics")
    created = await api.post("/v1/customers", json={"email": "ada@example.com", "phone": "+14155552671"})
    assert created.status_code == 201, created.text
    engine = create_engine(runtime.settings.database_url)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    try:
        with Session(engine) as session:
            found = lookup_customer(session, tenant_id=tenant.tenant_id, kind=kind, value=value)
            assert found.id == created.json()["id"]
            connection = session.connection()
            plans = {
                statement: [
                    str(row[-1])
                    for row in connection.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, tuple(parameters)
                    )
                ]
                for statement, parameters in list(statements)
            }
    finally:
        engine.dispose()

    assert len(plans) >= 3
    for statement, steps in plans.items():
        for step in steps:
            assert not step.startswith("SCAN"), f"{step}\n  in {statement}"
            assert not TENANT_ONLY.search(step), f"{step}\n  in {statement}"
