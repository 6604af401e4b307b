"""Customer operations: create, update, link and unlink identities, look up by any identity."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from cxstack.backbone.prepared import Document, Rows, session_rows
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.kit.versions import check_version
from cxstack.records.accounts.service import require_account
from cxstack.records.customers.creation import CustomerCreation as CustomerCreation  # public: the API
from cxstack.records.customers.creation import NewCustomer, WantedIdentity, insert_new_customers
from cxstack.records.customers.creation import create_customers as create_customers  # public: batched
from cxstack.records.customers.identities import normalise_email as normalise_email  # public: channels
from cxstack.records.customers.identities import normalise_identity
from cxstack.records.customers.identities import normalise_phone as normalise_phone  # public: channels use it
from cxstack.records.customers.models import Customer, Identity
from cxstack.records.customers.repository import MAX_MERGE_CHAIN, CustomerReads, CustomerRepository
from cxstack.records.customers.schemas import (
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
    CustomerUpdated,
    IdentityIn,
    IdentityLinked,
    IdentityOut,
    IdentityUnlinked,
)
from cxstack.records.tags.service import normalise_tag

SOURCE = "cxstack/records"


def to_out(customer: Customer, identities: list[Identity]) -> CustomerOut:
    out = CustomerOut.model_validate(customer)
    out.identities = [IdentityOut.model_validate(identity) for identity in identities]
    return out


def record_change(customer: Customer, *, at: datetime) -> None:
    """Stamp a change of the customer: its ``updated_at``, and its ``version`` one higher, raised in the
    database (``version + 1``), so that concurrent writers that did not lock the row each count."""
    customer.updated_at = at
    customer.version = Customer.version + 1


def _link(
    uow: UnitOfWork,
    repo: CustomerRepository,
    customer: Customer,
    *,
    kind: str,
    value: str,
    system: str = "",
    verified: bool = False,
    field: str,
) -> Identity:
    existing = repo.find_identity(kind=kind, value=value, system=system)
    if existing is not None:
        if existing.customer_id == customer.id:
            return existing
        raise Conflict(
            f"{kind} identity {value!r} already belongs to customer {existing.customer_id}",
            field=field,
            customer_id=existing.customer_id,
        )
    identity = Identity(
        id=new_id("idn"),
        tenant_id=repo.tenant_id,
        customer_id=customer.id,
        kind=kind,
        system=system,
        value=value,
        verified=verified,
        created_at=uow.clock.now(),
    )
    uow.session.add(identity)
    uow.publish(
        IdentityLinked(
            identity_id=identity.id, customer_id=customer.id, kind=kind, system=system, value=value
        ),
        tenant_id=repo.tenant_id,
        subject=customer.id,
        source=SOURCE,
    )
    return identity


def create_customer(uow: UnitOfWork, *, tenant_id: str, data: CustomerCreate) -> CustomerOut:
    """Create a customer with its identities; the email and phone given become identities too.

    Raises ValidationFailed for a bad email or number, NotFound for an unknown ``account_id``, Conflict
    if an identity belongs to another customer (nothing is written then). Publishes ``customer.created``
    and ``identity.linked``. (``create_customers`` with one request.)
    """
    (outcome,) = create_customers(uow, [(uow.context, CustomerCreation(tenant_id, data))])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def update_customer(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    customer_id: str,
    data: CustomerUpdate,
    expected_versions: Collection[int] | None = None,
) -> CustomerOut:
    """Change the fields given; a new email or phone is linked as an identity; a change raises the
    customer's ``version`` by one.

    ``expected_versions``: the versions the change was made on (``If-Match``); None checks none. Raises
    EditConflict when the customer's version is not among them (nothing is written), NotFound (also for an
    unknown ``account_id``), ValidationFailed, Conflict. Publishes ``customer.updated`` with the new
    version when anything changed.
    """
    repo = CustomerRepository(uow.session, tenant_id)
    # Locked, so that the version checked is the one changed (PostgreSQL; SQLite has one writer).
    customer = repo.get(customer_id, for_update=True)
    check_version(noun="customer", current=customer.version, expected=expected_versions)
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer_id} was merged into {customer.merged_into_id}; update that one",
            field="customer_id",
        )
    given = data.model_dump(exclude_unset=True, exclude={"region"})
    changes: dict[str, Any] = {}
    if "name" in given and given["name"] != customer.name:
        changes["name"] = customer.name = given["name"]
    if "account_id" in given and given["account_id"] != customer.account_id:
        if given["account_id"] is not None:
            require_account(uow.session, tenant_id=tenant_id, account_id=given["account_id"])
        changes["account_id"] = customer.account_id = given["account_id"]
    if "attributes" in given and given["attributes"] is not None:
        merged = {**customer.attributes, **given["attributes"]}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != customer.attributes:
            changes["attributes"] = customer.attributes = merged
    if given.get("email"):
        email = normalise_email(given["email"])
        if email != customer.email:
            _link(uow, repo, customer, kind="email", value=email, field="email")
            changes["email"] = customer.email = email
    if given.get("phone"):
        phone = normalise_phone(given["phone"], region=data.region)
        if phone != customer.phone:
            _link(uow, repo, customer, kind="phone", value=phone, field="phone")
            changes["phone"] = customer.phone = phone
    if changes:
        # The row is locked: the version read is the one the database holds.
        customer.updated_at = uow.clock.now()
        customer.version += 1
        uow.publish(
            CustomerUpdated(customer_id=customer.id, changes=changes, version=customer.version),
            tenant_id=tenant_id,
            subject=customer.id,
            source=SOURCE,
        )
    uow.session.flush()
    return to_out(customer, repo.identities_of([customer.id])[customer.id])


def link_identity(
    uow: UnitOfWork, *, tenant_id: str, customer_id: str, data: IdentityIn, region: str = "US"
) -> IdentityOut:
    """Link an identity to a customer (raising its ``version``, as the customer shows its identities);
    raises NotFound, ValidationFailed, Conflict."""
    repo = CustomerRepository(uow.session, tenant_id)
    customer = repo.get(customer_id, for_update=True)
    value = normalise_identity(data.kind, data.value, region=region)
    system = data.system if data.kind == "external" else ""
    if data.kind == "external" and not system:
        raise ValidationFailed("an external identity names its system", field="system")
    linked_before = {known.id for known in repo.identities_of([customer.id])[customer.id]}
    identity = _link(
        uow, repo, customer, kind=data.kind, value=value, system=system, verified=data.verified, field="value"
    )
    if identity.id not in linked_before:
        record_change(customer, at=uow.clock.now())
    return IdentityOut.model_validate(identity)


def unlink_identity(uow: UnitOfWork, *, tenant_id: str, customer_id: str, identity_id: str) -> None:
    """Remove an identity from a customer (raising its ``version``); raises NotFound. Publishes
    ``identity.unlinked``."""
    repo = CustomerRepository(uow.session, tenant_id)
    identity = repo.get_identity(identity_id)
    if identity.customer_id != customer_id:
        raise NotFound(f"identity {identity_id} does not belong to customer {customer_id}")
    record_change(repo.get(customer_id), at=uow.clock.now())
    uow.session.delete(identity)
    uow.publish(
        IdentityUnlinked(
            identity_id=identity.id, customer_id=customer_id, kind=identity.kind, value=identity.value
        ),
        tenant_id=tenant_id,
        subject=customer_id,
        source=SOURCE,
    )


def get_customer(session: Session, *, tenant_id: str, customer_id: str) -> CustomerOut:
    """Return a customer with its identities; raises NotFound."""
    document = read_customer(session_rows(session), tenant_id=tenant_id, customer_id=customer_id)
    return CustomerOut.model_validate(document)


def read_customer(rows: Rows, *, tenant_id: str, customer_id: str) -> Document:
    """Return a customer with its identities as ``CustomerOut`` shows them, through prepared reads
    (``Database.read_rows``, one statement); raises NotFound."""
    return CustomerReads(rows, tenant_id).customer(customer_id)


def require_customer(rows: Rows, *, tenant_id: str, customer_id: str) -> None:
    """Raise NotFound unless the tenant has the customer (prepared reads, one statement)."""
    if not CustomerReads(rows, tenant_id).exists(customer_id):
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")


def current_customer_id(session: Session, *, tenant_id: str, customer_id: str) -> str:
    """Return the customer ``customer_id`` is now: itself, or the one it was merged into (through merges of
    merges), so that a record kept by another part of cxstack (a chat visitor) follows a merge and an
    undone merge alike. Raises NotFound."""
    current = CustomerRepository(session, tenant_id).current_ids([customer_id]).get(customer_id)
    if current is None:
        raise NotFound(f"customer {customer_id} does not exist", field="customer_id")
    return current


def list_customers(
    session: Session,
    *,
    tenant_id: str,
    cursor: str | None,
    limit: int,
    email: str | None = None,
    phone: str | None = None,
    account_id: str | None = None,
    name_contains: str | None = None,
    include_merged: bool = False,
    region: str = "US",
    tag: str | None = None,
) -> Page[CustomerOut]:
    """Return a page of customers, oldest first, filtered as asked."""
    repo = CustomerRepository(session, tenant_id)
    page = repo.list_page(
        cursor=cursor,
        limit=limit,
        email=normalise_email(email) if email else None,
        phone=normalise_phone(phone, region=region) if phone else None,
        account_id=account_id,
        name_contains=name_contains,
        include_merged=include_merged,
        tag=normalise_tag(tag) if tag is not None else None,
    )
    identities = repo.identities_of([c.id for c in page.items])
    return Page(items=[to_out(c, identities[c.id]) for c in page.items], next_cursor=page.next_cursor)


_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def customers_by_phone(session: Session, *, tenant_id: str, phones: Sequence[str]) -> dict[str, str]:
    """Return {phone: customer id} for the phones (E.164) that resolve to a customer of the tenant,
    following merges, in one query; phones no customer has are left out."""
    return CustomerRepository(session, tenant_id).customers_by_identity(kind="phone", values=phones)


def create_customers_by_phone(
    uow: UnitOfWork, *, tenant_id: str, phones: Sequence[tuple[Context, str]]
) -> dict[str, str]:
    """Create one customer per phone (E.164, no customer has it yet), each as ``create_customer`` with only
    that phone would, in a few statements; return {phone: new customer id}.

    Each customer's ``customer.created`` and ``identity.linked`` carry the context given with its phone.
    Raises ValidationFailed for a phone not in E.164, Conflict for a phone given twice (nothing written).
    """
    for _, phone in phones:
        if not _E164.match(phone):
            raise ValidationFailed(f"{phone!r} is not an E.164 phone number", field="phone")
    return _create_with_identity(
        uow, tenant_id=tenant_id, kind="phone", people=[(context, phone, None) for context, phone in phones]
    )


def customers_by_email(session: Session, *, tenant_id: str, emails: Sequence[str]) -> dict[str, str]:
    """Return {email: customer id} for the addresses (as ``normalise_email`` gives them) that resolve to a
    customer of the tenant, following merges, in one query; addresses no customer has are left out."""
    return CustomerRepository(session, tenant_id).customers_by_identity(kind="email", values=emails)


def create_customers_by_email(
    uow: UnitOfWork, *, tenant_id: str, people: Sequence[tuple[Context, str, str | None]]
) -> dict[str, str]:
    """Create one customer per ``(context, email, name)`` (no customer has the email yet), each as
    ``create_customer`` with only that name and email would, in a few statements; return {email: new
    customer id}.

    Each customer's ``customer.created`` and ``identity.linked`` carry the context given with its email.
    Raises ValidationFailed for an email that is not valid or not normalised, Conflict for an email given
    twice (nothing written).
    """
    for _, email, _ in people:
        if normalise_email(email) != email:
            raise ValidationFailed(f"{email!r} is not a normalised email address", field="email")
    return _create_with_identity(uow, tenant_id=tenant_id, kind="email", people=people)


def _create_with_identity(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    kind: Literal["phone", "email"],
    people: Sequence[tuple[Context, str, str | None]],
) -> dict[str, str]:
    """Create one customer per ``(context, value, name)`` with the checked identity ``value`` of ``kind``;
    return {value: new customer id}. Raises Conflict for a value given twice (nothing written)."""
    seen: set[str] = set()
    for _, value, _ in people:
        if value in seen:
            raise Conflict(f"the {kind} {value} is given twice", field=kind)
        seen.add(value)
    customers = [
        NewCustomer(
            context=context,
            tenant_id=tenant_id,
            name=name,
            email=value if kind == "email" else None,
            phone=value if kind == "phone" else None,
            identities=[WantedIdentity(kind, value, field=kind)],
        )
        for context, value, name in people
    ]
    insert_new_customers(uow, customers)
    return {new.identities[0].value: new.id for new in customers}


def lookup_customer(
    session: Session, *, tenant_id: str, kind: str, value: str, system: str = "", region: str = "US"
) -> CustomerOut:
    """Return the customer an identity resolves to, following merges; raises NotFound, ValidationFailed."""
    document = read_customer_by_identity(
        session_rows(session),
        tenant_id=tenant_id,
        kind=kind,
        value=value,
        system=system,
        region=region,
    )
    return CustomerOut.model_validate(document)


def read_customer_by_identity(
    rows: Rows, *, tenant_id: str, kind: str, value: str, system: str = "", region: str = "US"
) -> Document:
    """``lookup_customer`` through prepared reads (``Database.read_rows``)."""
    reads = CustomerReads(rows, tenant_id)
    normalised = normalise_identity(kind, value, region=region)
    customer = reads.identity_owner(kind=kind, system=system if kind == "external" else "", value=normalised)
    if customer is None:
        raise NotFound(f"no customer has the {kind} identity {normalised!r}", field="value")
    for _ in range(MAX_MERGE_CHAIN):
        if customer["merged_into_id"] is None:
            break
        customer = reads.customer(customer["merged_into_id"])
    return customer
