"""Account queries, each scoped to one tenant by construction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate
from cxstack.records.accounts.models import Account


def contains_pattern(text: str) -> str:
    """Return a LIKE pattern matching ``text`` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class AccountRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find(self, account_id: str, *, for_update: bool = False) -> Account | None:
        query = select(Account).where(Account.tenant_id == self.tenant_id, Account.id == account_id)
        return self.session.scalar(query.with_for_update() if for_update else query)

    def get(self, account_id: str, *, for_update: bool = False) -> Account:
        """Return the account (its row locked until commit with ``for_update``, on PostgreSQL: SQLite has
        one writer); raises NotFound (also for another tenant's id)."""
        account = self.find(account_id, for_update=for_update)
        if account is None:
            raise NotFound(f"account {account_id} does not exist", field="account_id")
        return account

    def find_by_domain(self, domain: str) -> Account | None:
        return self.session.scalar(
            select(Account).where(Account.tenant_id == self.tenant_id, Account.domain == domain)
        )

    def list_page(
        self,
        *,
        cursor: str | None,
        limit: int,
        plan: str | None = None,
        domain: str | None = None,
        name_contains: str | None = None,
    ) -> Page[Account]:
        query = select(Account).where(Account.tenant_id == self.tenant_id)
        if plan is not None:
            query = query.where(Account.plan == plan)
        if domain is not None:
            query = query.where(Account.domain == domain)
        if name_contains:
            query = query.where(Account.name.ilike(contains_pattern(name_contains), escape="\\"))
        return paginate(self.session, query, id_column=Account.id, cursor=cursor, limit=limit)
