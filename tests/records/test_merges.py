from __future__ import annotations

import httpx
import pytest
from tests.conftest import TenantKey

from cxstack.governance.audit.service import list_audit
from cxstack.kit.errors import NotFound
from cxstack.records.customers import service as customers
from cxstack.runtime import Runtime


async def _customer(api: httpx.AsyncClient, **fields: object) -> dict[str, object]:
    response = await api.post("/v1/customers", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_merge_moves_identities_and_history_and_undo_restores_them(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey
) -> None:
    target = await _customer(api, name="Ada Lovelace", email="ada@example.com")
    source = await _customer(api, phone="+44 20 7946 0958", attributes={"plan": "gold"})
    chat = await api.post(
        "/v1/conversations", json={"customer_id": source["id"], "channel": "webchat", "subject": "Card"}
    )
    assert chat.status_code == 201, chat.text
    case = await api.post("/v1/cases", json={"customer_id": source["id"], "subject": "Refund"})
    assert case.status_code == 201, case.text

    merged = await api.post(f"/v1/customers/{target['id']}/merge", json={"source_customer_id": source["id"]})
    assert merged.status_code == 201, merged.text
    merge = merged.json()
    assert merge["moved"]["conversations"] == [chat.json()["id"]]
    assert merge["moved"]["cases"] == [case.json()["id"]]

    by_phone = await api.get(
        "/v1/customers/lookup", params={"kind": "phone", "value": "020 7946 0958", "region": "GB"}
    )
    assert by_phone.json()["id"] == target["id"]
    merged_target = (await api.get(f"/v1/customers/{target['id']}")).json()
    assert merged_target["phone"] == "+442079460958"
    assert merged_target["attributes"] == {"plan": "gold"}
    assert (await api.get(f"/v1/conversations/{chat.json()['id']}")).json()["customer_id"] == target["id"]
    assert (await api.get(f"/v1/customers/{source['id']}")).json()["merged_into_id"] == target["id"]

    undone = await api.post(f"/v1/merges/{merge['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"] is not None
    by_phone = await api.get("/v1/customers/lookup", params={"kind": "phone", "value": "+442079460958"})
    assert by_phone.json()["id"] == source["id"]
    restored_target = (await api.get(f"/v1/customers/{target['id']}")).json()
    assert restored_target["phone"] is None
    assert restored_target["attributes"] == {}
    assert (await api.get(f"/v1/conversations/{chat.json()['id']}")).json()["customer_id"] == source["id"]
    assert (await api.get(f"/v1/cases/{case.json()['id']}")).json()["customer_id"] == source["id"]
    assert (await api.get(f"/v1/customers/{source['id']}")).json()["merged_into_id"] is None

    again = await api.post(f"/v1/merges/{merge['id']}/undo")
    assert again.status_code == 409

    audit = await runtime.db.read(
        lambda session: list_audit(session, tenant_id=tenant.tenant_id, target_id=str(target["id"]))
    )
    assert [entry.action for entry in audit] == ["customer.unmerged", "customer.merged"]
    assert all(entry.actor.startswith("api_key:") for entry in audit)


async def test_merging_a_customer_into_itself_or_twice_is_refused(api: httpx.AsyncClient) -> None:
    one = await _customer(api, name="One")
    two = await _customer(api, name="Two")
    itself = await api.post(f"/v1/customers/{one['id']}/merge", json={"source_customer_id": one["id"]})
    assert itself.status_code == 422
    assert itself.json()["field"] == "source_customer_id"
    assert (
        await api.post(f"/v1/customers/{one['id']}/merge", json={"source_customer_id": two["id"]})
    ).status_code == 201
    twice = await api.post(f"/v1/customers/{one['id']}/merge", json={"source_customer_id": two["id"]})
    assert twice.status_code == 409
    unknown = await api.post(f"/v1/customers/{one['id']}/merge", json={"source_customer_id": "cus_nope"})
    assert unknown.status_code == 404


async def test_a_customer_id_resolves_through_merges_of_merges_and_back_when_one_is_undone(
    api: httpx.AsyncClient, runtime: Runtime, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    first, second, third = [await _customer(api, name=name) for name in ("First", "Second", "Third")]
    into_second = await api.post(
        f"/v1/customers/{second['id']}/merge", json={"source_customer_id": first["id"]}
    )
    assert into_second.status_code == 201, into_second.text
    into_third = await api.post(
        f"/v1/customers/{third['id']}/merge", json={"source_customer_id": second["id"]}
    )
    assert into_third.status_code == 201, into_third.text

    async def current(customer_id: object, tenant_id: str = tenant.tenant_id) -> str:
        return await runtime.db.read(
            lambda session: customers.current_customer_id(
                session, tenant_id=tenant_id, customer_id=str(customer_id)
            )
        )

    assert [await current(c["id"]) for c in (first, second, third)] == [third["id"]] * 3
    assert (await api.post(f"/v1/merges/{into_third.json()['id']}/undo")).status_code == 200
    assert [await current(c["id"]) for c in (first, second, third)] == [
        second["id"],
        second["id"],
        third["id"],
    ]
    for unknown, tenant_id in (("cus_nope", tenant.tenant_id), (first["id"], other_tenant.tenant_id)):
        with pytest.raises(NotFound, match="does not exist"):
            await current(unknown, tenant_id)
