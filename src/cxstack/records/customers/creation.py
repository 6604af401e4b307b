"""Creating customers, many at a time: every new chat, email thread and call creates one, so creation is a
batched write (``Database.write_batched``) that does the work of all the callers waiting together in a few
statements. Creating one customer is a batch of one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import Conflict, DomainError, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.records.accounts.service import require_account
from cxstack.records.customers.identities import normalise_email, normalise_identity, normalise_phone
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.customers.schemas import (
    CustomerCreate,
    CustomerCreated,
    CustomerOut,
    IdentityLinked,
    IdentityOut,
)

SOURCE = "cxstack/records"


@dataclass(frozen=True)
class CustomerCreation:
    """One caller's request to create a customer of ``tenant_id``."""

    tenant_id: str
    data: CustomerCreate


@dataclass(frozen=True)
class WantedIdentity:
    kind: str
    value: str
    system: str = ""
    verified: bool = False
    #: The request's field the identity came from, named by a conflict.
    field: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.system, self.value)


@dataclass
class NewCustomer:
    """A customer about to be inserted: its columns, identities and the context its events carry."""

    context: Context
    tenant_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    account_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    identities: list[WantedIdentity] = field(default_factory=list)
    id: str = field(default_factory=lambda: new_id("cus"))


def create_customers(
    uow: UnitOfWork, requests: Sequence[tuple[Context, CustomerCreation]]
) -> list[CustomerOut | Exception]:
    """Create a customer per request, with the identities its email, phone and ``identities`` give; answer
    each request with its customer or the error it failed with, having written nothing for it.

    Errors: ValidationFailed for a bad email, number or identity, NotFound for an unknown ``account_id``,
    Conflict for an identity another customer has (one created earlier in the same batch included).
    Publishes ``customer.created`` and ``identity.linked``, with each request's context.
    """
    outcomes: list[CustomerOut | Exception | None] = [None] * len(requests)
    prepared: list[tuple[int, NewCustomer]] = []
    for index, (context, request) in enumerate(requests):
        try:
            prepared.append((index, _prepare(uow.session, context, request)))
        except DomainError as error:
            outcomes[index] = error
    taken = _identity_owners(uow.session, [new for _, new in prepared])
    accepted: list[tuple[int, NewCustomer]] = []
    for index, new in prepared:
        conflict = next((wanted for wanted in new.identities if wanted.key in taken[new.tenant_id]), None)
        if conflict is not None:
            owner = taken[new.tenant_id][conflict.key]
            outcomes[index] = Conflict(
                f"{conflict.kind} identity {conflict.value!r} already belongs to customer {owner}",
                field=conflict.field,
                customer_id=owner,
            )
            continue
        for wanted in new.identities:
            taken[new.tenant_id][wanted.key] = new.id
        accepted.append((index, new))
    for (index, _), out in zip(
        accepted, insert_new_customers(uow, [new for _, new in accepted]), strict=True
    ):
        outcomes[index] = out
    return [outcome for outcome in outcomes if outcome is not None]


def insert_new_customers(uow: UnitOfWork, customers: Sequence[NewCustomer]) -> list[CustomerOut]:
    """Insert checked new customers and their identities (a statement per table and tenant), publish their
    ``customer.created`` and ``identity.linked``; return them as the API shows them."""
    now = uow.clock.now()
    rows: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = defaultdict(lambda: ([], []))
    outs: list[CustomerOut] = []
    for new in customers:
        customer_rows, identity_rows = rows[new.tenant_id]
        customer = {
            "id": new.id,
            "name": new.name,
            "email": new.email,
            "phone": new.phone,
            "account_id": new.account_id,
            "attributes": new.attributes,
            "merged_into_id": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        customer_rows.append(customer)
        uow.publish(
            CustomerCreated(
                customer_id=new.id,
                name=new.name,
                email=new.email,
                phone=new.phone,
                account_id=new.account_id,
            ),
            tenant_id=new.tenant_id,
            subject=new.id,
            source=SOURCE,
            context=new.context,
        )
        identities: list[IdentityOut] = []
        for wanted in new.identities:
            identity = {
                "id": new_id("idn"),
                "customer_id": new.id,
                "kind": wanted.kind,
                "system": wanted.system,
                "value": wanted.value,
                "verified": wanted.verified,
                "created_at": now,
            }
            identity_rows.append(identity)
            identities.append(IdentityOut(**identity))
            uow.publish(
                IdentityLinked(
                    identity_id=identity["id"],
                    customer_id=new.id,
                    kind=wanted.kind,
                    system=wanted.system,
                    value=wanted.value,
                ),
                tenant_id=new.tenant_id,
                subject=new.id,
                source=SOURCE,
                context=new.context,
            )
        outs.append(CustomerOut(**customer, identities=identities))
    for tenant_id, (customer_rows, identity_rows) in rows.items():
        CustomerRepository(uow.session, tenant_id).insert_customers(customer_rows, identity_rows)
    return outs


def _prepare(session: Session, context: Context, request: CustomerCreation) -> NewCustomer:
    """Check and normalise one request; raises ValidationFailed or NotFound."""
    data = request.data
    email = normalise_email(data.email) if data.email else None
    phone = normalise_phone(data.phone, region=data.region) if data.phone else None
    wanted: list[WantedIdentity] = []
    if email:
        wanted.append(WantedIdentity("email", email, field="email"))
    if phone:
        wanted.append(WantedIdentity("phone", phone, field="phone"))
    for index, identity in enumerate(data.identities):
        at = f"identities[{index}].value"
        value = normalise_identity(identity.kind, identity.value, region=data.region, field=at)
        system = identity.system if identity.kind == "external" else ""
        if identity.kind == "external" and not system:
            raise ValidationFailed(
                "an external identity names its system", field=f"identities[{index}].system"
            )
        wanted.append(WantedIdentity(identity.kind, value, system, identity.verified, at))
    if data.account_id is not None:
        require_account(session, tenant_id=request.tenant_id, account_id=data.account_id)
    unique: dict[tuple[str, str, str], WantedIdentity] = {}
    for one in wanted:
        unique.setdefault(one.key, one)
    return NewCustomer(
        context=context,
        tenant_id=request.tenant_id,
        name=data.name,
        email=email,
        phone=phone,
        account_id=data.account_id,
        attributes=data.attributes,
        identities=list(unique.values()),
    )


def _identity_owners(
    session: Session, customers: Sequence[NewCustomer]
) -> dict[str, dict[tuple[str, str, str], str]]:
    """Return, per tenant, {(kind, system, value): customer id} for the identities the new customers want
    that a customer already has: a query per tenant and kind."""
    wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for new in customers:
        for identity in new.identities:
            wanted[new.tenant_id][identity.kind].add(identity.value)
    owners: dict[str, dict[tuple[str, str, str], str]] = defaultdict(dict)
    for tenant_id, by_kind in wanted.items():
        repo = CustomerRepository(session, tenant_id)
        for kind, values in by_kind.items():
            for system, value, customer_id in repo.identity_owners(kind=kind, values=sorted(values)):
                owners[tenant_id][(kind, system, value)] = customer_id
    return owners
