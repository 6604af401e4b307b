"""Issuing operator keys and tenant keys with chosen scopes, for the governance tests."""

from __future__ import annotations

from collections.abc import Sequence

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.tenants.operators import issue_operator_key
from cxstack.governance.tenants.service import issue_api_key
from cxstack.runtime import Runtime

BASE_URL = "http://cxstack.test"
PROBLEM = "application/problem+json"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_operator_key(runtime: Runtime, name: str = "ops") -> str:
    """Issue an operator key as ``cxstack operator-keys create`` does and return its secret."""
    return (await runtime.db.write(lambda uow: issue_operator_key(uow, name=name))).key


async def new_tenant_key(
    runtime: Runtime, tenant_id: str, *, scopes: Sequence[str] | None, name: str = "k"
) -> str:
    """Issue a tenant key with ``scopes`` and return its secret."""

    def issue(uow: UnitOfWork) -> str:
        return issue_api_key(uow, tenant_id=tenant_id, name=name, scopes=scopes).key

    return await runtime.db.write(issue)
