"""Saved inbox views: a person's named filters of the conversation list.

A view is its owner's; shared with a team (``team_id``, one of the owner's teams, any team for an
admin), its members see it too, but only its owner changes or deletes it. Filters are the conversation
list's query parameters (``FILTERS``), each a string; a key not among them, or a value of the wrong type
or not among a key's values, is refused (ValidationFailed naming ``filters.<key>``). A person keeps at
most ``MAX_VIEWS`` views. A view put at a position (made or moved there) goes before the owner's view
that was there, which moves down with those after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.repository import StaffRepository
from cxstack.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.workspace.views.models import SavedView
from cxstack.workspace.views.repository import ViewRepository
from cxstack.workspace.views.schemas import (
    FILTERS,
    MAX_FILTER_LENGTH,
    MAX_VIEWS,
    ViewCreate,
    ViewListOut,
    ViewOut,
    ViewUpdate,
)


class NotTheOwner(Forbidden):
    """A change to a view shared with the person by someone else."""

    code = "not_the_owner"
    title = "Not the view's owner"


def checked_filters(filters: dict[str, Any]) -> dict[str, str]:
    """Return the filters as stored; raises ValidationFailed naming ``filters.<key>`` for an unknown key or
    a bad value."""
    for key, value in filters.items():
        field = f"filters.{key}"
        if key not in FILTERS:
            raise ValidationFailed(
                f"{key!r} is not a filter of the conversation list; the filters are {', '.join(FILTERS)}",
                field=field,
            )
        if not isinstance(value, str):
            raise ValidationFailed(f"the {key} filter is a string, not {type(value).__name__}", field=field)
        allowed = FILTERS[key]
        if allowed is not None and value not in allowed:
            raise ValidationFailed(f"the {key} filter is one of {', '.join(allowed)}", field=field)
        if not value.strip() or len(value) > MAX_FILTER_LENGTH:
            raise ValidationFailed(f"the {key} filter is 1 to {MAX_FILTER_LENGTH} characters", field=field)
    return dict(filters)


def _checked_team(
    session: Session, *, tenant_id: str, team_id: str, role: str, team_ids: Sequence[str]
) -> str:
    if StaffRepository(session, tenant_id).team(team_id) is None:
        raise NotFound(f"team {team_id} does not exist", field="team_id")
    if role != "admin" and team_id not in team_ids:
        raise ValidationFailed(f"a view is shared with one of your teams; {team_id} is not", field="team_id")
    return team_id


def _seen(repo: ViewRepository, view_id: str, *, user_id: str, team_ids: Sequence[str]) -> SavedView:
    view = repo.get(view_id)
    if view is None or (view.owner_id != user_id and (view.team_id is None or view.team_id not in team_ids)):
        raise NotFound(f"view {view_id} does not exist", field="view_id")
    return view


def _owned(repo: ViewRepository, view_id: str, *, user_id: str, team_ids: Sequence[str]) -> SavedView:
    view = _seen(repo, view_id, user_id=user_id, team_ids=team_ids)
    if view.owner_id != user_id:
        raise NotTheOwner(f"view {view_id} is shared with you by its owner, who alone changes it")
    return view


def create_view(
    uow: UnitOfWork, *, tenant_id: str, user_id: str, role: str, team_ids: Sequence[str], data: ViewCreate
) -> ViewOut:
    """Store a view of the person's; raises ValidationFailed (``filters.<key>``, ``team_id``), NotFound
    (``team_id``), Conflict (``MAX_VIEWS`` already)."""
    filters = checked_filters(data.filters)
    repo = ViewRepository(uow.session, tenant_id)
    team_id = (
        _checked_team(uow.session, tenant_id=tenant_id, team_id=data.team_id, role=role, team_ids=team_ids)
        if data.team_id is not None
        else None
    )
    if repo.count_of(user_id) >= MAX_VIEWS:
        raise Conflict(f"a person keeps at most {MAX_VIEWS} views; delete one first")
    if data.position is not None:
        repo.make_room(user_id, data.position)
    now = uow.clock.now()
    view = SavedView(
        id=new_id("view"),
        tenant_id=tenant_id,
        owner_id=user_id,
        team_id=team_id,
        name=data.name,
        filters=filters,
        position=data.position if data.position is not None else repo.next_position(user_id),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(view)
    uow.session.flush()
    return ViewOut.model_validate(view)


def update_view(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    user_id: str,
    role: str,
    team_ids: Sequence[str],
    view_id: str,
    data: ViewUpdate,
) -> ViewOut:
    """Change the fields given of one of the person's views; raises NotFound (a view they do not see),
    NotTheOwner (one shared with them), ValidationFailed."""
    repo = ViewRepository(uow.session, tenant_id)
    view = _owned(repo, view_id, user_id=user_id, team_ids=team_ids)
    given = data.model_fields_set
    for required in ("name", "filters", "position"):
        if required in given and getattr(data, required) is None:
            raise ValidationFailed(f"{required} cannot be removed from a view", field=required)
    if data.filters is not None:
        view.filters = checked_filters(data.filters)
    if "team_id" in given:
        view.team_id = (
            _checked_team(
                uow.session, tenant_id=tenant_id, team_id=data.team_id, role=role, team_ids=team_ids
            )
            if data.team_id is not None
            else None
        )
    if data.name is not None:
        view.name = data.name
    if data.position is not None and data.position != view.position:
        repo.make_room(user_id, data.position, moving=view.id)
        view.position = data.position
    view.updated_at = uow.clock.now()
    uow.session.flush()
    return ViewOut.model_validate(view)


def delete_view(
    uow: UnitOfWork, *, tenant_id: str, user_id: str, team_ids: Sequence[str], view_id: str
) -> None:
    """Delete one of the person's views; raises NotFound, NotTheOwner."""
    view = _owned(ViewRepository(uow.session, tenant_id), view_id, user_id=user_id, team_ids=team_ids)
    uow.session.delete(view)


def get_view(
    session: Session, *, tenant_id: str, user_id: str, team_ids: Sequence[str], view_id: str
) -> ViewOut:
    """Return a view the person sees (theirs, or shared with one of their teams); raises NotFound."""
    return ViewOut.model_validate(
        _seen(ViewRepository(session, tenant_id), view_id, user_id=user_id, team_ids=team_ids)
    )


def list_views(session: Session, *, tenant_id: str, user_id: str, team_ids: Sequence[str]) -> ViewListOut:
    """Return the person's views by position, then those shared with their teams by others."""
    views = ViewRepository(session, tenant_id).seen_by(user_id, team_ids)
    own = [ViewOut.model_validate(v) for v in views if v.owner_id == user_id]
    shared = [ViewOut.model_validate(v) for v in views if v.owner_id != user_id]
    return ViewListOut(data=own + shared)
