"""The phone-number registry: a tenant's numbers at a provider, which messages (SMS) and calls (voice) use.

A number routes to one tenant: the provider's webhooks name the number, and its registration holds the
credentials that check their signatures and authenticate requests to the provider. Numbers are managed at
``/v1/channels/sms/numbers``; their events keep the ``sms.`` names they were first published under.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.numbers.models import PhoneNumber
from cxstack.channels.numbers.repository import NumberRepository, number_by_e164
from cxstack.channels.numbers.schemas import (
    NumberCreate,
    NumberOut,
    NumberRegistered,
    NumberRemoved,
    NumberRoute,
)
from cxstack.kit.errors import Conflict
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.customers import service as customers

SOURCE = "cxstack/channels/numbers"


def route_of(row: PhoneNumber) -> NumberRoute:
    return NumberRoute(
        number_id=row.id,
        tenant_id=row.tenant_id,
        number=row.number,
        provider=row.provider,
        account_sid=row.account_sid,
        auth_token=row.auth_token,
        help_text=row.help_text,
    )


def route_for(session: Session, *, number: str) -> NumberRoute | None:
    """Return the route of the registered number ``number`` (E.164), whichever tenant has it."""
    found = number_by_e164(session, number)
    return route_of(found) if found is not None else None


def tenant_numbers(session: Session, *, tenant_id: str) -> list[str]:
    """Return the tenant's numbers (E.164), oldest first."""
    return NumberRepository(session, tenant_id).numbers()


def register_number(uow: UnitOfWork, *, tenant_id: str, data: NumberCreate) -> NumberOut:
    """Register a number of the tenant at its provider; return it (without its auth token).

    Raises ValidationFailed for a number that is not one, Conflict for a number already registered (by
    any tenant: a number routes to one tenant). Publishes ``sms.number_registered``.
    """
    number = customers.normalise_phone(data.number, region=data.region, field="number")
    if number_by_e164(uow.session, number) is not None:
        raise Conflict(f"the number {number} is already registered", field="number")
    row = PhoneNumber(
        id=new_id("smn"),
        tenant_id=tenant_id,
        number=number,
        provider=data.provider,
        account_sid=data.account_sid,
        auth_token=data.auth_token,
        help_text=data.help_text,
        created_at=uow.clock.now(),
    )
    uow.session.add(row)
    uow.publish(
        NumberRegistered(
            number_id=row.id, number=number, provider=data.provider, account_sid=data.account_sid
        ),
        tenant_id=tenant_id,
        subject=row.id,
        source=SOURCE,
    )
    return NumberOut.model_validate(row)


def get_number(session: Session, *, tenant_id: str, number_id: str) -> NumberOut:
    """Return a number of the tenant; raises NotFound."""
    return NumberOut.model_validate(NumberRepository(session, tenant_id).get_number(number_id))


def list_numbers(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[NumberOut]:
    """Return a page of the tenant's numbers, oldest first."""
    page = NumberRepository(session, tenant_id).numbers_page(cursor=cursor, limit=limit)
    return Page(items=[NumberOut.model_validate(n) for n in page.items], next_cursor=page.next_cursor)


def remove_number(uow: UnitOfWork, *, tenant_id: str, number_id: str) -> None:
    """Remove a number: its webhooks are refused from now on. Raises NotFound.

    Publishes ``sms.number_removed``.
    """
    row = NumberRepository(uow.session, tenant_id).get_number(number_id)
    uow.session.delete(row)
    uow.publish(
        NumberRemoved(number_id=row.id, number=row.number), tenant_id=tenant_id, subject=row.id, source=SOURCE
    )
