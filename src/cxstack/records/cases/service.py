"""Case operations: open, change, reopen, list, and move a customer's cases to another customer.

A case's status follows this state machine (setting the status it already has changes nothing):

=========  ===========================================================
from       may move to
=========  ===========================================================
new        open, pending, on_hold, solved, closed
open       pending, on_hold, solved, closed
pending    open, on_hold, solved, closed
on_hold    open, pending, solved, closed
solved     open (the customer came back), closed
closed     nothing: only ``reopen_case`` (``POST /v1/cases/{id}/reopen``) moves it, to open
=========  ===========================================================

No case returns to ``new``, and a case is opened in ``new``, ``open``, ``pending`` or ``on_hold``.
Entering ``solved`` stamps ``solved_at``, entering ``closed`` stamps ``closed_at``; reopening clears both.
A closed case is final: its fields do not change until it is reopened. A refused move is a Conflict (409)
naming both statuses (``from_status``, ``to_status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.clock import utc
from cxstack.kit.errors import Conflict, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.cases.models import Case
from cxstack.records.cases.repository import CaseRepository
from cxstack.records.cases.schemas import (
    CaseAssigned,
    CaseCreate,
    CaseCreated,
    CaseOut,
    CaseStatusChanged,
    CaseUpdate,
    CaseUpdated,
)
from cxstack.records.conversations.repository import ConversationRepository
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.tags import service as tags

SOURCE = "cxstack/records"

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "on_hold", "solved", "closed"}),
    "open": frozenset({"pending", "on_hold", "solved", "closed"}),
    "pending": frozenset({"open", "on_hold", "solved", "closed"}),
    "on_hold": frozenset({"open", "pending", "solved", "closed"}),
    "solved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
INITIAL_STATUSES = ("new", "open", "pending", "on_hold")
REOPENABLE = ("solved", "closed")


def check_transition(case_id: str, from_status: str, to_status: str) -> None:
    """Raise Conflict (naming both statuses) unless a case may move from ``from_status`` to ``to_status``."""
    if to_status == from_status or to_status in TRANSITIONS[from_status]:
        return
    if from_status == "closed":
        hint = f"a closed case changes only when reopened (POST /v1/cases/{case_id}/reopen)"
    elif to_status == "new":
        hint = "no case returns to new"
    else:
        hint = f"from {from_status} a case may move to {', '.join(sorted(TRANSITIONS[from_status]))}"
    raise Conflict(
        f"case {case_id} cannot move from {from_status} to {to_status}: {hint}",
        field="status",
        from_status=from_status,
        to_status=to_status,
    )


def _move_status(uow: UnitOfWork, case: Case, to_status: str) -> None:
    from_status = case.status
    now = uow.clock.now()
    case.status = to_status
    if to_status == "solved":
        case.solved_at = now
    elif to_status == "closed":
        case.closed_at = now
    elif from_status in REOPENABLE:
        case.solved_at = case.closed_at = None
    uow.publish(
        CaseStatusChanged(
            case_id=case.id, customer_id=case.customer_id, from_status=from_status, to_status=to_status
        ),
        tenant_id=case.tenant_id,
        subject=case.id,
        source=SOURCE,
    )


def _assign(uow: UnitOfWork, case: Case, assignee: str | None) -> None:
    previous, case.assignee = case.assignee, assignee
    uow.publish(
        CaseAssigned(
            case_id=case.id, customer_id=case.customer_id, assignee=assignee, previous_assignee=previous
        ),
        tenant_id=case.tenant_id,
        subject=case.id,
        source=SOURCE,
    )


def _to_out(case: Case, tag_names: list[str]) -> CaseOut:
    out = CaseOut.model_validate(case)
    out.tags = tag_names
    return out


def _out(session: Session, case: Case) -> CaseOut:
    names = tags.tag_names_of(session, tenant_id=case.tenant_id, target_type="case", target_ids=[case.id])
    return _to_out(case, names[case.id])


def _check_conversation(uow: UnitOfWork, tenant_id: str, conversation_id: str, *, customer_id: str) -> None:
    """A case's conversation is one of its customer's; raises NotFound, ValidationFailed."""
    conversation = ConversationRepository(uow.session, tenant_id).get(conversation_id)
    if conversation.customer_id != customer_id:
        raise ValidationFailed(
            f"conversation {conversation_id} belongs to customer {conversation.customer_id}, "
            f"not to the case's customer {customer_id}",
            field="conversation_id",
        )


def create_case(uow: UnitOfWork, *, tenant_id: str, data: CaseCreate) -> CaseOut:
    """Open a case for a customer, with its tags.

    Raises NotFound (``customer_id``, ``conversation_id``) for an unknown or another tenant's customer or
    conversation, Conflict for a merged customer, ValidationFailed for a bad status or tag or another
    customer's conversation; nothing is
    written then. Publishes ``case.created``, ``case.assigned`` when
    an assignee is given, and ``tag.added`` per tag.
    """
    customer = CustomerRepository(uow.session, tenant_id).get(data.customer_id)
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer.id} was merged into {customer.merged_into_id}; open the case there",
            field="customer_id",
            merged_into_id=customer.merged_into_id,
        )
    if data.conversation_id is not None:
        _check_conversation(uow, tenant_id, data.conversation_id, customer_id=customer.id)
    if data.status not in INITIAL_STATUSES:
        raise ValidationFailed(
            f"a case opens as {', '.join(INITIAL_STATUSES)}, not {data.status}", field="status"
        )
    tag_names = sorted(
        {tags.normalise_tag(name, field=f"tags[{index}]") for index, name in enumerate(data.tags)}
    )
    now = uow.clock.now()
    case = Case(
        id=new_id("cas"),
        tenant_id=tenant_id,
        customer_id=customer.id,
        conversation_id=data.conversation_id,
        subject=data.subject,
        description=data.description,
        status=data.status,
        priority=data.priority,
        assignee=None,
        due_at=utc(data.due_at) if data.due_at else None,
        created_at=now,
        updated_at=now,
        solved_at=None,
        closed_at=None,
    )
    uow.session.add(case)
    uow.publish(
        CaseCreated(
            case_id=case.id,
            customer_id=case.customer_id,
            conversation_id=case.conversation_id,
            subject=case.subject,
            status=case.status,
            priority=case.priority,
            assignee=data.assignee,
            due_at=case.due_at,
        ),
        tenant_id=tenant_id,
        subject=case.id,
        source=SOURCE,
    )
    if data.assignee is not None:
        _assign(uow, case, data.assignee)
    for name in tag_names:
        tags.add_tag(uow, tenant_id=tenant_id, target_type="case", target_id=case.id, tag=name)
    return _to_out(case, tag_names)


def update_case(uow: UnitOfWork, *, tenant_id: str, case_id: str, data: CaseUpdate) -> CaseOut:
    """Change the fields given; the status follows the state machine above.

    Raises NotFound (the case, or ``conversation_id`` for a conversation not in the tenant), Conflict (a
    refused status move, or any change to a closed case), ValidationFailed.
    Publishes ``case.updated``, ``case.status_changed`` and ``case.assigned`` for what changed.
    """
    case = CaseRepository(uow.session, tenant_id).get(case_id)
    given = data.model_dump(exclude_unset=True)
    for required in ("subject", "description", "status", "priority"):
        if required in given and given[required] is None:
            raise ValidationFailed(f"{required} cannot be removed from a case", field=required)
    if given.get("due_at") is not None:
        given["due_at"] = utc(given["due_at"])
    if given.get("conversation_id") is not None:
        _check_conversation(uow, tenant_id, given["conversation_id"], customer_id=case.customer_id)
    new_status = given.get("status", case.status)
    check_transition(case.id, case.status, new_status)
    changes: dict[str, Any] = {}
    for field in ("subject", "description", "conversation_id", "priority", "due_at"):
        if field in given and given[field] != getattr(case, field):
            changes[field] = given[field]
    reassigned = "assignee" in given and given["assignee"] != case.assignee
    if case.status == "closed" and (changes or reassigned):
        raise Conflict(
            f"case {case.id} is closed; reopen it (POST /v1/cases/{case.id}/reopen) before changing it",
            field=next(iter(changes), "assignee"),
        )
    for field, value in changes.items():
        setattr(case, field, value)
    if changes:
        uow.publish(
            CaseUpdated(case_id=case.id, customer_id=case.customer_id, changes=changes),
            tenant_id=tenant_id,
            subject=case.id,
            source=SOURCE,
        )
    moved = new_status != case.status
    if moved:
        _move_status(uow, case, new_status)
    if reassigned:
        _assign(uow, case, given["assignee"])
    if changes or moved or reassigned:
        case.updated_at = uow.clock.now()
    uow.session.flush()
    return _out(uow.session, case)


def reopen_case(uow: UnitOfWork, *, tenant_id: str, case_id: str) -> CaseOut:
    """Move a solved or closed case back to open; raises NotFound, Conflict (any other status).

    Publishes ``case.status_changed``.
    """
    case = CaseRepository(uow.session, tenant_id).get(case_id)
    if case.status not in REOPENABLE:
        raise Conflict(
            f"case {case.id} cannot be reopened from {case.status}: only solved or closed cases reopen",
            field="status",
            from_status=case.status,
            to_status="open",
        )
    _move_status(uow, case, "open")
    case.updated_at = uow.clock.now()
    uow.session.flush()
    return _out(uow.session, case)


def get_case(
    session: Session, *, tenant_id: str, case_id: str, visibility: Visibility | None = None
) -> CaseOut:
    """Return a case with its tags; raises NotFound (also for a case ``visibility`` does not see: one of a
    conversation it does not see, assigned to none of its people)."""
    return _out(session, CaseRepository(session, tenant_id).get(case_id, visibility=visibility))


def list_cases(
    session: Session,
    *,
    tenant_id: str,
    now: datetime,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    priority: str | None = None,
    customer_id: str | None = None,
    assignee: str | None = None,
    tag: str | None = None,
    overdue: bool | None = None,
    visibility: Visibility | None = None,
) -> Page[CaseOut]:
    """Return a page of cases, oldest first, filtered as asked, of those ``visibility`` (None: all) sees;
    raises ValidationFailed for a bad tag.

    ``overdue=True`` keeps cases due before ``now`` that are not solved or closed; ``False`` the others.
    """
    page = CaseRepository(session, tenant_id).list_page(
        cursor=cursor,
        limit=limit,
        status=status,
        priority=priority,
        customer_id=customer_id,
        assignee=assignee,
        tag=tags.normalise_tag(tag) if tag is not None else None,
        overdue_at=now if overdue is True else None,
        not_overdue_at=now if overdue is False else None,
        visibility=visibility,
    )
    names = tags.tag_names_of(
        session, tenant_id=tenant_id, target_type="case", target_ids=[case.id for case in page.items]
    )
    return Page(items=[_to_out(case, names[case.id]) for case in page.items], next_cursor=page.next_cursor)


def move_customer(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    from_customer_id: str,
    to_customer_id: str,
    case_ids: Sequence[str] | None = None,
) -> list[str]:
    """Move cases of one customer to another (all of them, or those of ``case_ids`` that are the first
    customer's; others are left alone) and return the ids moved, for a merge and its undo.

    Closed cases move too. Raises NotFound for an unknown customer, ValidationFailed when both are the
    same. Publishes ``case.updated`` (``changes.customer_id``, ``previous_customer_id``) per case moved.
    """
    if from_customer_id == to_customer_id:
        raise ValidationFailed("cases move between two different customers", field="to_customer_id")
    customers = CustomerRepository(uow.session, tenant_id)
    customers.get(from_customer_id)
    customers.get(to_customer_id)
    moving = CaseRepository(uow.session, tenant_id).of_customer(from_customer_id, case_ids=case_ids)
    now = uow.clock.now()
    for case in moving:
        case.customer_id = to_customer_id
        case.updated_at = now
        uow.publish(
            CaseUpdated(
                case_id=case.id,
                customer_id=to_customer_id,
                changes={"customer_id": to_customer_id},
                previous_customer_id=from_customer_id,
            ),
            tenant_id=tenant_id,
            subject=case.id,
            source=SOURCE,
        )
    return [case.id for case in moving]
