"""Phone-number queries, each scoped to one tenant by construction (but for finding a number's tenant), and
the advisory locks the number channels order their work with."""

from __future__ import annotations

import zlib

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cxstack.channels.numbers.models import PhoneNumber
from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate

#: First key of the number channels' PostgreSQL advisory locks.
_LOCK_CLASS = 0x736D73  # "sms"


def serialise_on(session: Session, key: str) -> None:
    """On PostgreSQL, hold a transaction-scoped advisory lock on ``key`` until commit, so that transactions
    about the same thing (a sender, a provider message or call id) run one after the other. SQLite has one
    writer, so there is nothing to order."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :key)"),
            {"cls": _LOCK_CLASS, "key": zlib.crc32(key.encode()) - 2**31},
        )


def number_by_e164(session: Session, number: str) -> PhoneNumber | None:
    """Return the number ``number`` (E.164) of whichever tenant registered it: webhooks find the tenant
    by the number the provider posts for."""
    return session.scalar(select(PhoneNumber).where(PhoneNumber.number == number))


class NumberRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def get_number(self, number_id: str) -> PhoneNumber:
        """Return the tenant's number; raises NotFound (also for another tenant's id)."""
        found = self.find_number(number_id)
        if found is None:
            raise NotFound(f"number {number_id} does not exist", field="number_id")
        return found

    def numbers_page(self, *, cursor: str | None, limit: int) -> Page[PhoneNumber]:
        query = select(PhoneNumber).where(PhoneNumber.tenant_id == self.tenant_id)
        return paginate(self.session, query, id_column=PhoneNumber.id, cursor=cursor, limit=limit)

    def first_number(self) -> PhoneNumber | None:
        return self.session.scalar(
            select(PhoneNumber)
            .where(PhoneNumber.tenant_id == self.tenant_id)
            .order_by(PhoneNumber.id)
            .limit(1)
        )

    def find_number(self, number_id: str) -> PhoneNumber | None:
        return self.session.scalar(
            select(PhoneNumber).where(PhoneNumber.tenant_id == self.tenant_id, PhoneNumber.id == number_id)
        )

    def numbers(self) -> list[str]:
        """The tenant's numbers (E.164), oldest first."""
        return list(
            self.session.scalars(
                select(PhoneNumber.number)
                .where(PhoneNumber.tenant_id == self.tenant_id)
                .order_by(PhoneNumber.id)
            )
        )
