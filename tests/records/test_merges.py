from __future__ import annotations

import httpx
from tests.conftest import TenantKey

from cxstack.governance.audit.service import list_audit
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
