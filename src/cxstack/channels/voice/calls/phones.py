"""A customer's phone for a call: the number given is linked to them unless another customer has it."""

from __future__ import annotations

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import Conflict, NotFound
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerOut, IdentityIn


def phones_of(customer: CustomerOut) -> list[str]:
    return [identity.value for identity in customer.identities if identity.kind == "phone"]


def claim_phone(uow: UnitOfWork, *, tenant_id: str, customer: CustomerOut, phone: str) -> None:
    """Link ``phone`` (E.164) to ``customer`` unless it is theirs already; raises Conflict when another
    customer of the tenant has it."""
    if phone in phones_of(customer):
        return
    try:
        owner = customers.lookup_customer(uow.session, tenant_id=tenant_id, kind="phone", value=phone)
    except NotFound:
        owner = None
    if owner is not None and owner.id != customer.id:
        raise Conflict(f"the phone {phone} belongs to customer {owner.id}", field="phone")
    customers.link_identity(
        uow, tenant_id=tenant_id, customer_id=customer.id, data=IdentityIn(kind="phone", value=phone)
    )
