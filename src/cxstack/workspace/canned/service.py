"""Canned responses: a tenant's prepared replies, managed by supervisors and admins, inserted by agents.

A body holds variables in double braces (``{{customer.first_name}}``) of ``VARIABLES``; any other is
refused when the response is stored (ValidationFailed naming ``body`` and the variable). Rendering for a
conversation fills them from the conversation, its customer and the signed-in person; a variable with no
value (a customer with no email, an API key's ``agent.name``) is filled in empty and listed in ``missing``.

A response with ``team_ids`` is seen by agents of those teams only; one without, by everyone. Supervisors,
admins and API keys see every response. Changes are audited.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.governance.staff.repository import StaffRepository
from cxstack.governance.staff.service import get_user
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations.service import get_conversation
from cxstack.records.customers.service import get_customer
from cxstack.workspace.canned.models import CannedResponse
from cxstack.workspace.canned.repository import CannedRepository
from cxstack.workspace.canned.schemas import (
    MAX_BODY_BYTES,
    VARIABLES,
    CannedResponseCreate,
    CannedResponseOut,
    CannedResponseUpdate,
    RenderedOut,
)

#: ``{{ name }}``: what a body's variables look like (the name is checked against ``VARIABLES``).
VARIABLE = re.compile(r"\{\{(.*?)\}\}")


def variables_in(body: str) -> list[str]:
    """Return the variables ``body`` uses, in order of first use; raises ValidationFailed (``body``)
    naming the first that is not one of ``VARIABLES``."""
    found: list[str] = []
    for match in VARIABLE.finditer(body):
        name = match.group(1).strip()
        if name not in VARIABLES:
            raise ValidationFailed(
                f"body uses the unknown variable {{{{{name}}}}}; the variables are "
                + ", ".join("{{" + known + "}}" for known in VARIABLES),
                field="body",
                variable=name,
            )
        if name not in found:
            found.append(name)
    return found


def render(body: str, values: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """Return ``body`` with each variable replaced by its value, and the variables that had none (filled
    in empty), in order of first use."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        value = values.get(name)
        if not value:
            if name not in missing:
                missing.append(name)
            return ""
        return value

    return VARIABLE.sub(fill, body), missing


def _checked_body(body: str) -> str:
    size = len(body.encode())
    if size > MAX_BODY_BYTES:
        raise ValidationFailed(
            f"a canned response's body is at most {MAX_BODY_BYTES} bytes of UTF-8; this one is {size}",
            field="body",
        )
    variables_in(body)
    return body


def _checked_teams(session: Session, tenant_id: str, team_ids: Collection[str]) -> list[str]:
    wanted = list(dict.fromkeys(team_ids))
    known = StaffRepository(session, tenant_id).teams(wanted)
    for index, team_id in enumerate(wanted):
        if team_id not in known:
            raise NotFound(f"team {team_id} does not exist", field=f"team_ids[{index}]")
    return wanted


def _free_shortcut(repo: CannedRepository, shortcut: str, *, keep: str | None = None) -> str:
    taken = repo.by_shortcut(shortcut)
    if taken is not None and taken.id != keep:
        raise Conflict(
            f"the shortcut {shortcut!r} is taken by canned response {taken.id}",
            field="shortcut",
            canned_response_id=taken.id,
        )
    return shortcut


def _require(repo: CannedRepository, canned_id: str, seen_by_teams: Collection[str] | None) -> CannedResponse:
    row = repo.get(canned_id, seen_by_teams=seen_by_teams)
    if row is None:
        raise NotFound(f"canned response {canned_id} does not exist", field="canned_response_id")
    return row


def create_canned_response(
    uow: UnitOfWork, *, tenant_id: str, data: CannedResponseCreate
) -> CannedResponseOut:
    """Store a canned response; raises ValidationFailed (``body``: too long or an unknown variable),
    NotFound (``team_ids[i]``), Conflict (``shortcut`` taken). Audited."""
    repo = CannedRepository(uow.session, tenant_id)
    body = _checked_body(data.body)
    team_ids = _checked_teams(uow.session, tenant_id, data.team_ids)
    shortcut = _free_shortcut(repo, data.shortcut)
    now = uow.clock.now()
    row = CannedResponse(
        id=new_id("cnr"),
        tenant_id=tenant_id,
        name=data.name,
        shortcut=shortcut,
        body=body,
        team_ids=team_ids,
        created_by=uow.context.actor,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="canned_response.created",
        target_type="canned_response",
        target_id=row.id,
        detail={"shortcut": shortcut},
    )
    uow.session.flush()
    return CannedResponseOut.model_validate(row)


def update_canned_response(
    uow: UnitOfWork, *, tenant_id: str, canned_id: str, data: CannedResponseUpdate
) -> CannedResponseOut:
    """Change the fields given; raises NotFound, ValidationFailed, Conflict as creating does. Audited."""
    repo = CannedRepository(uow.session, tenant_id)
    row = _require(repo, canned_id, None)
    given = data.model_fields_set
    for required in ("name", "shortcut", "body", "team_ids"):
        if required in given and getattr(data, required) is None:
            raise ValidationFailed(f"{required} cannot be removed from a canned response", field=required)
    if data.body is not None:
        row.body = _checked_body(data.body)
    if data.team_ids is not None:
        row.team_ids = _checked_teams(uow.session, tenant_id, data.team_ids)
    if data.shortcut is not None:
        row.shortcut = _free_shortcut(repo, data.shortcut, keep=row.id)
    if data.name is not None:
        row.name = data.name
    row.updated_at = uow.clock.now()
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="canned_response.updated",
        target_type="canned_response",
        target_id=row.id,
        detail={"fields": sorted(given)},
    )
    uow.session.flush()
    return CannedResponseOut.model_validate(row)


def delete_canned_response(uow: UnitOfWork, *, tenant_id: str, canned_id: str) -> None:
    """Delete a canned response; raises NotFound. Audited."""
    row = _require(CannedRepository(uow.session, tenant_id), canned_id, None)
    uow.session.delete(row)
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="canned_response.deleted",
        target_type="canned_response",
        target_id=row.id,
        detail={"shortcut": row.shortcut},
    )


def get_canned_response(
    session: Session, *, tenant_id: str, canned_id: str, seen_by_teams: Collection[str] | None = None
) -> CannedResponseOut:
    """Return a canned response; raises NotFound, also for one of teams not among ``seen_by_teams`` (None:
    every response is seen)."""
    return CannedResponseOut.model_validate(
        _require(CannedRepository(session, tenant_id), canned_id, seen_by_teams)
    )


def list_canned_responses(
    session: Session,
    *,
    tenant_id: str,
    q: str | None = None,
    seen_by_teams: Collection[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[CannedResponseOut]:
    """Return a page of canned responses in creation order, those whose name or shortcut holds ``q`` (any
    case), of those ``seen_by_teams`` sees (None: all); raises ValidationFailed (cursor, limit)."""
    page = CannedRepository(session, tenant_id).list_page(
        q=q, seen_by_teams=seen_by_teams, cursor=cursor, limit=limit
    )
    return Page(
        items=[CannedResponseOut.model_validate(row) for row in page.items], next_cursor=page.next_cursor
    )


def render_canned_response(
    session: Session,
    *,
    tenant_id: str,
    canned_id: str,
    conversation_id: str,
    user_id: str | None,
    seen_by_teams: Collection[str] | None = None,
    visibility: Visibility | None = None,
) -> RenderedOut:
    """Return the body with its variables filled from the conversation, its customer and the person
    ``user_id`` (None: an API key, no agent variables). Raises NotFound for a response ``seen_by_teams``
    does not see, and (``conversation_id``) for a conversation ``visibility`` does not see."""
    row = _require(CannedRepository(session, tenant_id), canned_id, seen_by_teams)
    try:
        conversation = get_conversation(
            session, tenant_id=tenant_id, conversation_id=conversation_id, visibility=visibility
        )
    except NotFound:
        raise NotFound(f"conversation {conversation_id} does not exist", field="conversation_id") from None
    values: dict[str, str | None] = {
        "conversation.id": conversation.id,
        "conversation.subject": conversation.subject,
    }
    try:
        customer = get_customer(session, tenant_id=tenant_id, customer_id=conversation.customer_id)
    except NotFound:
        customer = None
    if customer is not None:
        name = (customer.name or "").strip()
        values["customer.name"] = name
        values["customer.first_name"] = name.split()[0] if name else None
        values["customer.email"] = customer.email
    if user_id is not None:
        try:
            values["agent.name"] = get_user(session, tenant_id=tenant_id, user_id=user_id).name
        except NotFound:
            values["agent.name"] = None
    body, missing = render(row.body, values)
    return RenderedOut(canned_response_id=row.id, conversation_id=conversation.id, body=body, missing=missing)
