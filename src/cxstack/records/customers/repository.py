"""Customer and identity queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.errors import NotFound
from cxstack.backbone.pagination import Page, paginate
from cxstack.records.customers.models import Customer, Identity
from cxstack.records.tags.repository import tagged_target_ids


class CustomerRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find(self, customer_id: str) -> Customer | None:
        return self.session.scalar(
            select(Customer).where(Customer.tenant_id == self.tenant_id, Customer.id == customer_id)
        )

    def get(self, customer_id: str) -> Customer:
        """Return the customer; raises NotFound (also for another tenant's id)."""
        customer = self.find(customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
        return customer

    def list_page(
        self,
        *,
        cursor: str | None,
        limit: int,
        email: str | None = None,
        phone: str | None = None,
        account_id: str | None = None,
        name_contains: str | None = None,
        include_merged: bool = False,
        tag: str | None = None,
    ) -> Page[Customer]:
        query = select(Customer).where(Customer.tenant_id == self.tenant_id)
        if not include_merged:
            query = query.where(Customer.merged_into_id.is_(None))
        if email is not None:
            query = query.where(Customer.email == email)
        if phone is not None:
            query = query.where(Customer.phone == phone)
        if account_id is not None:
            query = query.where(Customer.account_id == account_id)
        if name_contains:
            query = query.where(Customer.name.ilike(f"%{name_contains}%"))
        if tag is not None:
            query = query.where(
                Customer.id.in_(tagged_target_ids(tenant_id=self.tenant_id, target_type="customer", tag=tag))
            )
        return paginate(self.session, query, id_column=Customer.id, cursor=cursor, limit=limit)

    def identities_of(self, customer_ids: Sequence[str]) -> dict[str, list[Identity]]:
        found: dict[str, list[Identity]] = {customer_id: [] for customer_id in customer_ids}
        if not customer_ids:
            return found
        rows = self.session.scalars(
            select(Identity)
            .where(Identity.tenant_id == self.tenant_id, Identity.customer_id.in_(customer_ids))
            .order_by(Identity.id)
        )
        for identity in rows:
            found[identity.customer_id].append(identity)
        return found

    def find_identity(self, *, kind: str, value: str, system: str = "") -> Identity | None:
        return self.session.scalar(
            select(Identity).where(
                Identity.tenant_id == self.tenant_id,
                Identity.kind == kind,
                Identity.system == system,
                Identity.value == value,
            )
        )

    def get_identity(self, identity_id: str) -> Identity:
        identity = self.session.scalar(
            select(Identity).where(Identity.tenant_id == self.tenant_id, Identity.id == identity_id)
        )
        if identity is None:
            raise NotFound(f"identity {identity_id} does not exist", field="identity_id")
        return identity
