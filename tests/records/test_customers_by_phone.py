"""Customers found and made by phone many at a time."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import TenantKey

from cxstack.backbone.log import read_events
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import Conflict, ValidationFailed
from cxstack.records.customers.service import create_customers_by_phone, customers_by_phone
from cxstack.runtime import Runtime

PHONES = ["+14155550301", "+14155550302", "+14155550303"]


async def test_phones_resolve_to_their_customers_in_one_call_within_the_tenant(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    ada = (await api.post("/v1/customers", json={"name": "Ada", "phone": "(415) 555-0301"})).json()
    other = await api.post("/v1/customers", json={"phone": PHONES[1]}, headers=other_tenant.headers)
    assert other.status_code == 201
    found = await runtime.db.read(
        lambda session: customers_by_phone(session, tenant_id=tenant.tenant_id, phones=PHONES)
    )
    assert found == {PHONES[0]: ada["id"]}


async def test_customers_made_by_phone_are_as_if_created_one_by_one(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    contexts = [Context(actor=f"test:{n}") for n in range(2)]

    def create(uow: UnitOfWork) -> dict[str, str]:
        return create_customers_by_phone(
            uow, tenant_id=tenant.tenant_id, phones=list(zip(contexts, PHONES[:2], strict=True))
        )

    created = await runtime.db.write(create)
    for phone in PHONES[:2]:
        customer = (await api.get("/v1/customers/lookup", params={"kind": "phone", "value": phone})).json()
        assert customer["id"] == created[phone]
        assert customer["phone"] == phone
        assert [(i["kind"], i["value"]) for i in customer["identities"]] == [("phone", phone)]
    events = await runtime.db.read(lambda session: read_events(session, after=0, limit=100))
    made = [
        (e.type, e.subject, e.correlationid)
        for e in events
        if e.type in ("customer.created", "identity.linked")
    ]
    assert made == [
        ("customer.created", created[PHONES[0]], contexts[0].correlation_id),
        ("identity.linked", created[PHONES[0]], contexts[0].correlation_id),
        ("customer.created", created[PHONES[1]], contexts[1].correlation_id),
        ("identity.linked", created[PHONES[1]], contexts[1].correlation_id),
    ]


@pytest.mark.parametrize(
    ("phones", "error"),
    [(["4155550301"], ValidationFailed), ([PHONES[0], PHONES[0]], Conflict)],
)
async def test_bad_phones_are_refused_and_nothing_is_written(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, phones: list[str], error: type[Exception]
) -> None:
    def create(uow: UnitOfWork) -> dict[str, str]:
        return create_customers_by_phone(
            uow, tenant_id=tenant.tenant_id, phones=[(Context(), p) for p in phones]
        )

    with pytest.raises(error):
        await runtime.db.write(create)
    assert (await api.get("/v1/customers")).json()["data"] == []
