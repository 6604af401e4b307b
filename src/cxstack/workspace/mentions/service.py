"""Mentions: people named with ``@`` in an internal note on a conversation.

Two ways to name someone in a note's text:

- ``@[Ann Lee](usr_01J...)``: the form the composer inserts (the name shown, the user's id);
- ``@ann@acme.example``: a user's email address after an ``@``.

A handle notifies a person of the tenant who is not disabled, sees the conversation (their role and
teams, ``cxstack.governance.staff.visibility``) and is not the note's author; any other notifies nobody
(``check_mentions`` says which and why, before the note is written). A note notifies at most
``MAX_MENTIONS`` people. Mentions are made by the ``workspace.mentions`` subscription when the note's
``note.added`` is handled (moments after the note is added), which publishes ``mention.created`` for each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.models import User
from cxstack.governance.staff.repository import StaffRepository
from cxstack.governance.staff.visibility import Visibility, visibility_of
from cxstack.kit.errors import NotFound
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.conversations.schemas import ConversationOut
from cxstack.records.conversations.service import get_conversation, seen_conversation_ids
from cxstack.workspace.mentions.models import Mention
from cxstack.workspace.mentions.repository import MentionRepository
from cxstack.workspace.mentions.schemas import (
    MentionCheckOut,
    MentionCreated,
    MentionedOut,
    MentionOut,
    NotNotifiedOut,
    NotNotifiedReason,
)

SOURCE = "cxstack/workspace"
#: The most people one note notifies.
MAX_MENTIONS = 50
EXCERPT_LENGTH = 280

#: ``@[Name](usr_...)``, or ``@`` and an email address (not the ``@`` inside an address).
HANDLE = re.compile(
    r"@\[(?P<label>[^\]\n]{1,200})\]\((?P<user_id>usr_[0-9A-Za-z]{1,40})\)"
    r"|(?<![\w@.+-])@(?P<email>[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)


@dataclass(frozen=True, slots=True)
class Handle:
    """A handle as written in a note, and who it names: a user id or an email address (lowercased)."""

    text: str
    user_id: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class MentionPlan:
    """Who a note notifies (each once, in order of first mention) and the handles that notify nobody."""

    mentioned: list[tuple[Handle, User]]
    not_notified: list[tuple[Handle, NotNotifiedReason]]


def handles_in(body: str) -> list[Handle]:
    """Return the handles of ``body`` in order, each distinct one once."""
    found: dict[tuple[str | None, str | None], Handle] = {}
    for match in HANDLE.finditer(body):
        if match.group("user_id"):
            handle = Handle(text=match.group(0), user_id=match.group("user_id"))
        else:
            handle = Handle(text=match.group(0), email=match.group("email").lower())
        found.setdefault((handle.user_id, handle.email), handle)
    return list(found.values())


def excerpt_of(body: str) -> str:
    """The start of a note as a list of mentions shows it: one line, ``@[Name](usr_...)`` as ``@Name``."""
    shown = HANDLE.sub(lambda m: f"@{m.group('label')}" if m.group("user_id") else m.group(0), body)
    flat = " ".join(shown.split())
    return flat if len(flat) <= EXCERPT_LENGTH else flat[: EXCERPT_LENGTH - 1] + "…"


def plan_mentions(
    session: Session, *, tenant_id: str, conversation: ConversationOut, body: str, author: str
) -> MentionPlan:
    """Return who a note with ``body`` by ``author`` on ``conversation`` notifies, and the handles that
    notify nobody and why, each in the order of the text."""
    staff = StaffRepository(session, tenant_id)
    mentioned: list[tuple[Handle, User]] = []
    refused: list[tuple[int, Handle, NotNotifiedReason]] = []
    chosen: set[str] = set()
    candidates: list[tuple[int, Handle, User]] = []
    handles = handles_in(body)
    named = staff.users_named(
        user_ids={h.user_id for h in handles if h.user_id}, emails={h.email for h in handles if h.email}
    )
    by_id = {user.id: user for user in named}
    by_email = {user.email: user for user in named}
    for index, handle in enumerate(handles):
        user = by_id.get(handle.user_id or "") if handle.user_id else by_email.get(handle.email or "")
        if user is None:
            refused.append((index, handle, "unknown"))
        elif user.disabled_at is not None:
            refused.append((index, handle, "disabled"))
        elif author == f"user:{user.id}":
            refused.append((index, handle, "author"))
        else:
            candidates.append((index, handle, user))
    teams = staff.team_ids_of({user.id for _, _, user in candidates})
    for index, handle, user in candidates:
        if user.id in chosen:
            continue  # named twice, by id and by email
        seen: Visibility | None = visibility_of(
            session, tenant_id=tenant_id, user_id=user.id, role=user.role, team_ids=teams.get(user.id, [])
        )
        if seen is not None and not seen.allows(
            team_ids=conversation.team_ids, assignee=conversation.assignee
        ):
            refused.append((index, handle, "not_in_sight"))
        elif len(chosen) >= MAX_MENTIONS:
            refused.append((index, handle, "too_many"))
        else:
            chosen.add(user.id)
            mentioned.append((handle, user))
    not_notified = [(handle, reason) for _, handle, reason in sorted(refused, key=lambda r: r[0])]
    return MentionPlan(mentioned=mentioned, not_notified=not_notified)


def check_mentions(
    session: Session,
    *,
    tenant_id: str,
    conversation_id: str,
    body: str,
    author: str,
    visibility: Visibility | None,
) -> MentionCheckOut:
    """Return who a note with ``body`` by ``author`` would notify, and which handles nobody and why;
    raises NotFound (``conversation_id``) for a conversation ``visibility`` does not see."""
    try:
        conversation = get_conversation(
            session, tenant_id=tenant_id, conversation_id=conversation_id, visibility=visibility
        )
    except NotFound:
        raise NotFound(f"conversation {conversation_id} does not exist", field="conversation_id") from None
    plan = plan_mentions(session, tenant_id=tenant_id, conversation=conversation, body=body, author=author)
    return MentionCheckOut(
        mentioned=[
            MentionedOut(handle=h.text, user_id=user.id, name=user.name) for h, user in plan.mentioned
        ],
        not_notified=[NotNotifiedOut(handle=h.text, reason=reason) for h, reason in plan.not_notified],
    )


def mention_in_note(
    uow: UnitOfWork,
    *,
    tenant_id: str,
    note_id: str,
    conversation_id: str,
    author: str,
    body: str,
    at: datetime,
) -> list[str]:
    """Record a mention for each person the note notifies (none twice for one note) and return their
    user ids; a conversation that is gone notifies nobody. Publishes ``mention.created`` for each."""
    try:
        conversation = get_conversation(uow.session, tenant_id=tenant_id, conversation_id=conversation_id)
    except NotFound:
        return []
    plan = plan_mentions(
        uow.session, tenant_id=tenant_id, conversation=conversation, body=body, author=author
    )
    repo = MentionRepository(uow.session, tenant_id)
    already = repo.users_of_note(note_id)
    excerpt = excerpt_of(body)
    made: list[Mention] = []
    for _handle, user in plan.mentioned:
        if user.id in already:
            continue
        made.append(
            Mention(
                id=new_id("mnt"),
                tenant_id=tenant_id,
                user_id=user.id,
                conversation_id=conversation.id,
                note_id=note_id,
                author=author,
                excerpt=excerpt,
                created_at=at,
                read_at=None,
            )
        )
    repo.add_all(made)
    for mention in made:
        uow.publish(
            MentionCreated(
                mention_id=mention.id,
                user_id=mention.user_id,
                conversation_id=mention.conversation_id,
                note_id=note_id,
                author=author,
            ),
            tenant_id=tenant_id,
            subject=conversation.id,
            source=SOURCE,
        )
    return [mention.user_id for mention in made]


def forget_note(uow: UnitOfWork, *, tenant_id: str, note_id: str) -> None:
    """Delete the mentions of a note that was deleted."""
    MentionRepository(uow.session, tenant_id).delete_of_note(note_id)


def list_mentions(
    session: Session,
    *,
    tenant_id: str,
    user_id: str,
    visibility: Visibility | None,
    unread: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[MentionOut]:
    """Return a page of the person's mentions, newest first (``unread``: only unread, or only read), of
    conversations ``visibility`` sees now (a page may hold fewer than ``limit`` when some are out of sight
    since); raises ValidationFailed (cursor, limit)."""
    page = MentionRepository(session, tenant_id).page_of_user(
        user_id, unread=unread, cursor=cursor, limit=limit
    )
    items = list(page.items)
    if visibility is not None and items:
        seen = seen_conversation_ids(
            session,
            tenant_id=tenant_id,
            conversation_ids=sorted({m.conversation_id for m in items}),
            visibility=visibility,
        )
        items = [m for m in items if m.conversation_id in seen]
    return Page(items=[MentionOut.model_validate(m) for m in items], next_cursor=page.next_cursor)


def mark_read(uow: UnitOfWork, *, tenant_id: str, user_id: str, mention_id: str) -> MentionOut:
    """Mark one of the person's mentions read (again: it keeps the first time); raises NotFound (also for
    someone else's)."""
    mention = MentionRepository(uow.session, tenant_id).of_user(mention_id, user_id)
    if mention is None:
        raise NotFound(f"mention {mention_id} does not exist", field="mention_id")
    if mention.read_at is None:
        mention.read_at = uow.clock.now()
    return MentionOut.model_validate(mention)
