"""Customer and identity queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from cxstack.backbone.prepared import PreparedRead, Rows, rows_as_json
from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate
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
_IDENTITY_OWNERS = select(_identities.c.system, _identities.c.value, _identities.c.customer_id).where(
    _identities.c.tenant_id == bindparam("tenant_id"),
    _identities.c.kind == bindparam("kind"),
    _identities.c.value.in_(bindparam("values", expanding=True)),
)

# The reads people wait on (a customer, a lookup), prepared (see ``cxstack.backbone.prepared``).
_CUSTOMER_COLUMNS = [c for c in _customers.c if c.key != "tenant_id"]
#: A customer's identities, as one column of the customer's row (an alias of their own, so that a query
#: joining identities to find the customer still correlates this with the customer alone).
_theirs = _identities.alias("their_identities")
_THEIR_IDENTITIES = rows_as_json(
    [c for c in _theirs.c if c.key != "tenant_id"],
    _theirs.c.tenant_id == _customers.c.tenant_id,
    _theirs.c.customer_id == _customers.c.id,
    order_key="id",
    name="identities",
)
_READ_CUSTOMER = PreparedRead(
    select(*_CUSTOMER_COLUMNS, _THEIR_IDENTITIES).where(
        _customers.c.tenant_id == bindparam("tenant_id"), _customers.c.id == bindparam("customer_id")
    )
)
_CUSTOMER_EXISTS = PreparedRead(
    select(_customers.c.id).where(
        _customers.c.tenant_id == bindparam("tenant_id"), _customers.c.id == bindparam("customer_id")
    )
)
#: The customer an identity is linked to (merged away or not), with its identities.
_READ_IDENTITY_OWNER = PreparedRead(
    select(*_CUSTOMER_COLUMNS, _THEIR_IDENTITIES)
    .join(_identities, _identities.c.customer_id == _customers.c.id)
    .where(
        _identities.c.tenant_id == bindparam("tenant_id"),
        _customers.c.tenant_id == bindparam("tenant_id"),
        _identities.c.kind == bindparam("kind"),
        _identities.c.system == bindparam("system"),
        _identities.c.value == bindparam("value"),
    )
)


class CustomerReads:
    """The prepared reads of one tenant's customers: rows as dicts of their columns (no ``tenant_id``)."""

    def __init__(self, rows: Rows, tenant_id: str) -> None:
        self.rows = rows
        self.tenant_id = tenant_id

    def customer(self, customer_id: str) -> dict[str, Any]:
        """Return the customer's row with its ``identities``, in one statement; raises NotFound (also for
        another tenant's id)."""
        row = self.rows.first(_READ_CUSTOMER, tenant_id=self.tenant_id, customer_id=customer_id)
        if row is None:
            raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
        return row

    def exists(self, customer_id: str) -> bool:
        found = self.rows.first(_CUSTOMER_EXISTS, tenant_id=self.tenant_id, customer_id=customer_id)
        return found is not None

    def identity_owner(self, *, kind: str, system: str, value: str) -> dict[str, Any] | None:
        """Return the customer the identity is linked to (merged away or not) as ``customer`` does, or
        None."""
        return self.rows.first(
            _READ_IDENTITY_OWNER, tenant_id=self.tenant_id, kind=kind, system=system, value=value
        )


class CustomerRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find(self, customer_id: str, *, for_update: bool = False) -> Customer | None:
        query = select(Customer).where(Customer.tenant_id == self.tenant_id, Customer.id == customer_id)
        return self.session.scalar(query.with_for_update() if for_update else query)

    def get(self, customer_id: str, *, for_update: bool = False) -> Customer:
        """Return the customer (its row locked until commit with ``for_update``, on PostgreSQL: SQLite has
        one writer); raises NotFound (also for another tenant's id)."""
        customer = self.find(customer_id, for_update=for_update)
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

    def merge_states(self, customer_ids: Sequence[str]) -> dict[str, str | None]:
        """Return {id: the customer it was merged into, or None} for the tenant's ``customer_ids``, in one
        query; ids the tenant does not have are left out."""
        if not customer_ids:
            return {}
        rows = self.session.execute(
            _MERGED_INTO, {"tenant_id": self.tenant_id, "ids": list(customer_ids)}
        ).all()
        return {customer_id: into for customer_id, into in rows}

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

    def identity_owners(self, *, kind: str, values: Sequence[str]) -> list[tuple[str, str, str]]:
        """Return (system, value, customer id) of the tenant's identities of ``kind`` among ``values`` (any
        system), in one query; the customer is the one the identity is linked to, merged or not."""
        if not values:
            return []
        rows = self.session.execute(
            _IDENTITY_OWNERS, {"tenant_id": self.tenant_id, "kind": kind, "values": list(values)}
        ).all()
        return [(system, value, customer_id) for system, value, customer_id in rows]

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
