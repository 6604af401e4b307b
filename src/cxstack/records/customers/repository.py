"""Customer and identity queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from cxstack.backbone.errors import NotFound
from cxstack.backbone.pagination import Page, paginate
from cxstack.records.accounts.repository import contains_pattern
from cxstack.records.customers.models import Customer, Identity
from cxstack.records.tags.repository import tagged_target_ids

# Statements of the bulk paths (many customers at once), built once.
_customers = cast(Table, Customer.__table__)
_identities = cast(Table, Identity.__table__)
_CUSTOMERS_BY_IDENTITY = (
    select(_identities.c.value, _customers.c.id, _customers.c.merged_into_id)
    .join(_customers, _customers.c.id == _identities.c.customer_id)
    .where(
        _identities.c.tenant_id == bindparam("tenant_id"),
        _identities.c.kind == bindparam("kind"),
        _identities.c.system == "",
        _identities.c.value.in_(bindparam("values", expanding=True)),
    )
)
_MERGED_INTO = select(_customers.c.id, _customers.c.merged_into_id).where(
    _customers.c.tenant_id == bindparam("tenant_id"), _customers.c.id.in_(bindparam("ids", expanding=True))
)
_INSERT_CUSTOMER = insert(_customers)
#: How many merges of merges a look-up follows (chains cannot loop: a customer merged away takes part in
#: no later merge).
MAX_MERGE_CHAIN = 50
_INSERT_IDENTITY = insert(_identities)


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
            query = query.where(Customer.name.ilike(contains_pattern(name_contains), escape="\\"))
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

    def customers_by_identity(self, *, kind: str, values: Sequence[str]) -> dict[str, str]:
        """Return {value: customer id} for the identities of ``kind`` (no system) among ``values``, each
        followed through merges to the customer it resolves to now; one query (plus one a merge level)."""
        if not values:
            return {}
        rows = self.session.execute(
            _CUSTOMERS_BY_IDENTITY, {"tenant_id": self.tenant_id, "kind": kind, "values": list(values)}
        ).all()
        merged = {customer_id: into for _, customer_id, into in rows if into is not None}
        followed = self._followed(merged)
        return {value: followed.get(customer_id, customer_id) for value, customer_id, _ in rows}

    def current_ids(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """Return {id: the customer it resolves to now} for the tenant's ``customer_ids``: itself, or the
        customer it was merged into (through merges of merges); one query a merge level. Ids the tenant
        does not have are left out."""
        if not customer_ids:
            return {}
        rows = self.session.execute(
            _MERGED_INTO, {"tenant_id": self.tenant_id, "ids": list(customer_ids)}
        ).all()
        followed = self._followed({customer_id: into for customer_id, into in rows if into is not None})
        return {customer_id: followed.get(customer_id, customer_id) for customer_id, _ in rows}

    def _followed(self, merged: dict[str, str]) -> dict[str, str]:
        """Follow {merged customer: the customer it was merged into} to the ends of the merge chains."""
        ends = dict(merged)
        pending = set(merged.values())
        for _ in range(MAX_MERGE_CHAIN):
            if not pending:
                break
            rows = self.session.execute(
                _MERGED_INTO, {"tenant_id": self.tenant_id, "ids": list(pending)}
            ).all()
            further = {customer_id: into for customer_id, into in rows if into is not None}
            ends = {source: further.get(target, target) for source, target in ends.items()}
            pending = set(further.values())
        return ends

    def insert_customers(
        self, customers: Sequence[dict[str, Any]], identities: Sequence[dict[str, Any]]
    ) -> None:
        """Insert customer and identity rows (dicts of their columns) of this tenant, a statement each."""
        if customers:
            self.session.execute(
                _INSERT_CUSTOMER, [{**row, "tenant_id": self.tenant_id} for row in customers]
            )
        if identities:
            self.session.execute(
                _INSERT_IDENTITY, [{**row, "tenant_id": self.tenant_id} for row in identities]
            )

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
