"""Account operations: create, update, get, list, and checking that an account exists."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import Conflict, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.kit.versions import check_version
from cxstack.records.accounts.models import Account
from cxstack.records.accounts.repository import AccountRepository
from cxstack.records.accounts.schemas import (
    AccountCreate,
    AccountCreated,
    AccountOut,
    AccountUpdate,
    AccountUpdated,
)

SOURCE = "cxstack/records"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_domain(value: str, *, field: str = "domain") -> str:
    """Return a company domain lowercased, in ASCII (IDNA) form; raises ValidationFailed."""
    text = value.strip().lower().rstrip(".")
    problem = f"{value!r} is not a domain; give the bare domain, such as example.com"
    try:
        ascii_domain = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationFailed(problem, field=field) from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > 253
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationFailed(problem, field=field)
    return ascii_domain


def _claim_domain(repo: AccountRepository, domain: str, *, account_id: str | None) -> None:
    holder = repo.find_by_domain(domain)
    if holder is not None and holder.id != account_id:
        raise Conflict(
            f"domain {domain} already belongs to account {holder.id}", field="domain", account_id=holder.id
        )


def require_account(session: Session, *, tenant_id: str, account_id: str) -> AccountOut:
    """Return the tenant's account ``account_id``; raises NotFound (field ``account_id``) otherwise."""
    return AccountOut.model_validate(AccountRepository(session, tenant_id).get(account_id))


def create_account(uow: UnitOfWork, *, tenant_id: str, data: AccountCreate) -> AccountOut:
    """Create an account; raises ValidationFailed for a bad domain, Conflict for a domain already taken.

    Publishes ``account.created``.
    """
    repo = AccountRepository(uow.session, tenant_id)
    domain = normalise_domain(data.domain) if data.domain else None
    if domain is not None:
        _claim_domain(repo, domain, account_id=None)
    now = uow.clock.now()
    account = Account(
        id=new_id("acc"),
        tenant_id=tenant_id,
        name=data.name,
        domain=domain,
        plan=data.plan,
        annual_revenue_cents=data.annual_revenue_cents,
        currency=data.currency.upper(),
        attributes=data.attributes,
        version=1,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(account)
    uow.publish(
        AccountCreated(
            account_id=account.id,
            name=account.name,
            domain=domain,
            plan=account.plan,
            annual_revenue_cents=account.annual_revenue_cents,
            currency=account.currency,
        ),
        tenant_id=tenant_id,
        subject=account.id,
        source=SOURCE,
    )
    return AccountOut.model_validate(account)


def update_account(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    account_id: str,
    data: AccountUpdate,
    expected_versions: Collection[int] | None = None,
) -> AccountOut:
    """Change the fields given; ``attributes`` merge key by key (a null value removes a key); a change
    raises the account's ``version`` by one.

    ``expected_versions``: the versions the change was made on (``If-Match``); None checks none. Raises
    EditConflict when the account's version is not among them (nothing is written), NotFound,
    ValidationFailed, Conflict. Publishes ``account.updated`` with the new version when anything changed.
    """
    repo = AccountRepository(uow.session, tenant_id)
    # Locked, so that the version checked is the one changed (PostgreSQL; SQLite has one writer).
    account = repo.get(account_id, for_update=True)
    check_version(noun="account", current=account.version, expected=expected_versions)
    given = data.model_dump(exclude_unset=True)
    for required in ("name", "currency"):
        if required in given and given[required] is None:
            raise ValidationFailed(f"{required} cannot be removed from an account", field=required)
    if given.get("domain") is not None:
        given["domain"] = normalise_domain(given["domain"])
        _claim_domain(repo, given["domain"], account_id=account.id)
    if given.get("currency") is not None:
        given["currency"] = given["currency"].upper()
    changes: dict[str, Any] = {}
    for field in ("name", "domain", "plan", "annual_revenue_cents", "currency"):
        if field in given and given[field] != getattr(account, field):
            setattr(account, field, given[field])
            changes[field] = given[field]
    if given.get("attributes") is not None:
        merged = {**account.attributes, **given["attributes"]}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != account.attributes:
            changes["attributes"] = account.attributes = merged
    if changes:
        account.updated_at = uow.clock.now()
        account.version += 1
        uow.publish(
            AccountUpdated(account_id=account.id, changes=changes, version=account.version),
            tenant_id=tenant_id,
            subject=account.id,
            source=SOURCE,
        )
    return AccountOut.model_validate(account)


def get_account(session: Session, *, tenant_id: str, account_id: str) -> AccountOut:
    """Return an account; raises NotFound."""
    return require_account(session, tenant_id=tenant_id, account_id=account_id)


def list_accounts(
    session: Session,
    *,
    tenant_id: str,
    cursor: str | None,
    limit: int,
    plan: str | None = None,
    domain: str | None = None,
    name_contains: str | None = None,
) -> Page[AccountOut]:
    """Return a page of accounts, oldest first, filtered as asked; raises ValidationFailed."""
    page = AccountRepository(session, tenant_id).list_page(
        cursor=cursor,
        limit=limit,
        plan=plan,
        domain=normalise_domain(domain) if domain else None,
        name_contains=name_contains,
    )
    return Page(items=[AccountOut.model_validate(a) for a in page.items], next_cursor=page.next_cursor)
