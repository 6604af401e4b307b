"""Email channel queries, each scoped to one tenant by construction (except the look-up of an inbox by
address, which is how an inbound email finds its tenant)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from cxstack.channels.email.models import EmailInbox, EmailMessage, EmailThread, EmailThreadRef
from cxstack.kit.errors import NotFound
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page, paginate

# The statements of the inbound path, built once: building a statement per call costs more than
# running it on SQLite.
_REFS = cast(Table, EmailThreadRef.__table__)
_EMAILS = cast(Table, EmailMessage.__table__)
_THREADS = cast(Table, EmailThread.__table__)
_INBOXES = cast(Table, EmailInbox.__table__)
_THREADS_OF_MESSAGE_IDS = select(_REFS.c.message_id, _REFS.c.thread_id).where(
    _REFS.c.tenant_id == bindparam("tenant_id"), _REFS.c.message_id.in_(bindparam("ids", expanding=True))
)
_THREAD_VIEW = select(
    _THREADS.c.id, _THREADS.c.conversation_id, _THREADS.c.customer_address, _THREADS.c.joined_into_id
).where(_THREADS.c.tenant_id == bindparam("tenant_id"), _THREADS.c.id == bindparam("thread_id"))
_THREADS_BY_TOKENS = select(
    _THREADS.c.token,
    _THREADS.c.id,
    _THREADS.c.conversation_id,
    _THREADS.c.customer_address,
    _THREADS.c.joined_into_id,
).where(
    _THREADS.c.tenant_id == bindparam("tenant_id"), _THREADS.c.token.in_(bindparam("tokens", expanding=True))
)
_INSERT_REFS = insert(_REFS)
_INSERT_EMAIL = insert(_EMAILS)
_INSERT_THREAD = insert(_THREADS)
_EMAILS_BY_MESSAGE_IDS = select(
    _EMAILS.c.id,
    _EMAILS.c.inbox_id,
    _EMAILS.c.message_id,
    _EMAILS.c.kind,
    _EMAILS.c.thread_id,
    _EMAILS.c.conversation_id,
    _EMAILS.c.cx_message_id,
    _EMAILS.c.customer_id,
    _EMAILS.c.raw_file_id,
).where(
    _EMAILS.c.tenant_id == bindparam("tenant_id"),
    _EMAILS.c.message_id.in_(bindparam("ids", expanding=True)),
)
_INBOXES_AMONG = select(_INBOXES.c.id, _INBOXES.c.address).where(
    _INBOXES.c.tenant_id == bindparam("tenant_id"), _INBOXES.c.id.in_(bindparam("ids", expanding=True))
)
_REFS_WITH_THREADS = (
    select(
        _REFS.c.message_id,
        _REFS.c.thread_id,
        _THREADS.c.id.label("found_id"),
        _THREADS.c.conversation_id,
        _THREADS.c.customer_address,
        _THREADS.c.joined_into_id,
    )
    .select_from(
        _REFS.outerjoin(
            _THREADS, (_THREADS.c.tenant_id == _REFS.c.tenant_id) & (_THREADS.c.id == _REFS.c.thread_id)
        )
    )
    .where(
        _REFS.c.tenant_id == bindparam("tenant_id"),
        _REFS.c.message_id.in_(bindparam("ids", expanding=True)),
    )
)


def inbox_by_address(session: Session, address: str) -> EmailInbox | None:
    """Return the inbox at ``address`` (lower-case, no ``+tag``), whichever tenant it belongs to."""
    return session.scalar(select(EmailInbox).where(EmailInbox.address == address))


@dataclass(frozen=True, slots=True)
class ThreadView:
    id: str
    conversation_id: str | None
    customer_address: str


class EmailRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # -- inboxes --

    def find_inbox(self, inbox_id: str) -> EmailInbox | None:
        return self.session.scalar(
            select(EmailInbox).where(EmailInbox.tenant_id == self.tenant_id, EmailInbox.id == inbox_id)
        )

    def get_inbox(self, inbox_id: str) -> EmailInbox:
        """Return the inbox; raises NotFound (also for another tenant's)."""
        inbox = self.find_inbox(inbox_id)
        if inbox is None:
            raise NotFound(f"inbox {inbox_id} does not exist", field="inbox_id")
        return inbox

    def first_inbox(self) -> EmailInbox | None:
        return self.session.scalar(
            select(EmailInbox).where(EmailInbox.tenant_id == self.tenant_id).order_by(EmailInbox.id).limit(1)
        )

    def inboxes_page(self, *, cursor: str | None, limit: int) -> Page[EmailInbox]:
        query = select(EmailInbox).where(EmailInbox.tenant_id == self.tenant_id)
        return paginate(self.session, query, id_column=EmailInbox.id, cursor=cursor, limit=limit)

    def inboxes_among(self, inbox_ids: Sequence[str]) -> dict[str, str]:
        """Return those of ``inbox_ids`` that are inboxes of the tenant, with their addresses (one query)."""
        found = self.session.connection().execute(
            _INBOXES_AMONG, {"tenant_id": self.tenant_id, "ids": list(dict.fromkeys(inbox_ids))}
        )
        return {inbox_id: address for inbox_id, address in found}

    # -- emails --

    def insert_emails(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert email rows (dicts of every column), one statement."""
        if rows:
            self.session.connection().execute(_INSERT_EMAIL, [dict(row) for row in rows])

    def emails_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return, for each of ``message_ids`` received before, what the inbound path answers with (one
        query): {message id: {id, inbox_id, message_id, kind, thread_id, conversation_id, cx_message_id,
        customer_id, raw_file_id}}."""
        if not message_ids:
            return {}
        rows = self.session.connection().execute(
            _EMAILS_BY_MESSAGE_IDS, {"tenant_id": self.tenant_id, "ids": list(dict.fromkeys(message_ids))}
        )
        return {row.message_id: dict(row._mapping) for row in rows}

    def email_by_id(self, email_id: str) -> EmailMessage | None:
        return self.session.scalar(
            select(EmailMessage).where(EmailMessage.tenant_id == self.tenant_id, EmailMessage.id == email_id)
        )

    def email_for_conversation_message(self, cx_message_id: str) -> EmailMessage | None:
        return self.session.scalar(
            select(EmailMessage).where(
                EmailMessage.tenant_id == self.tenant_id, EmailMessage.cx_message_id == cx_message_id
            )
        )

    def latest_email_of_thread(self, thread_id: str, *, direction: str | None = None) -> EmailMessage | None:
        query = select(EmailMessage).where(
            EmailMessage.tenant_id == self.tenant_id,
            EmailMessage.thread_id == thread_id,
            EmailMessage.kind == "message",
        )
        if direction is not None:
            query = query.where(EmailMessage.direction == direction)
        return self.session.scalar(query.order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc()))

    def emails_of_thread(self, thread_id: str) -> Sequence[EmailMessage]:
        return self.session.scalars(
            select(EmailMessage)
            .where(EmailMessage.tenant_id == self.tenant_id, EmailMessage.thread_id == thread_id)
            .order_by(EmailMessage.created_at, EmailMessage.id)
        ).all()

    # -- threads --

    def thread(self, thread_id: str) -> EmailThread:
        """Return a thread, following joins to the thread it is part of now."""
        thread = self.session.scalar(
            select(EmailThread).where(EmailThread.tenant_id == self.tenant_id, EmailThread.id == thread_id)
        )
        if thread is None:
            raise NotFound(f"email thread {thread_id} does not exist", field="thread_id")
        while thread.joined_into_id is not None:
            thread = self.thread(thread.joined_into_id)
        return thread

    def thread_view(self, thread_id: str) -> ThreadView:
        """Return what the inbound path reads of a thread (one indexed read), following joins."""
        row = (
            self.session.connection()
            .execute(_THREAD_VIEW, {"tenant_id": self.tenant_id, "thread_id": thread_id})
            .first()
        )
        if row is None:
            raise NotFound(f"email thread {thread_id} does not exist", field="thread_id")
        if row.joined_into_id is not None:
            return self.thread_view(row.joined_into_id)
        return ThreadView(
            id=row.id, conversation_id=row.conversation_id, customer_address=row.customer_address
        )

    def refs_with_threads(
        self, message_ids: Sequence[str]
    ) -> tuple[dict[str, str], dict[str, tuple[ThreadView, str | None]]]:
        """Return the thread id of each of ``message_ids`` that is known, and for each of those threads
        what the inbound path reads of it and the thread it was joined into (joins are not followed), in
        one query."""
        if not message_ids:
            return {}, {}
        rows = self.session.connection().execute(
            _REFS_WITH_THREADS, {"tenant_id": self.tenant_id, "ids": list(dict.fromkeys(message_ids))}
        )
        refs: dict[str, str] = {}
        views: dict[str, tuple[ThreadView, str | None]] = {}
        for row in rows:
            refs[row.message_id] = row.thread_id
            if row.found_id is not None:
                view = ThreadView(row.found_id, row.conversation_id, row.customer_address)
                views[row.found_id] = (view, row.joined_into_id)
        return refs, views

    def threads_by_tokens(self, tokens: Sequence[str]) -> dict[str, ThreadView]:
        """Return, for each of ``tokens`` that is a thread's reply token, what the inbound path reads of
        that thread, following joins (one query, and one read per joined thread)."""
        if not tokens:
            return {}
        rows = self.session.connection().execute(
            _THREADS_BY_TOKENS, {"tenant_id": self.tenant_id, "tokens": list(dict.fromkeys(tokens))}
        )
        return {
            row.token: (
                ThreadView(row.id, row.conversation_id, row.customer_address)
                if row.joined_into_id is None
                else self.thread_view(row.joined_into_id)
            )
            for row in rows
        }

    def insert_threads(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert thread rows (dicts of every column), one statement."""
        if rows:
            self.session.connection().execute(_INSERT_THREAD, [dict(row) for row in rows])

    def insert_refs(self, refs: Mapping[str, str]) -> None:
        """Insert {message id: thread id} refs, none of which is known yet, one statement."""
        if refs:
            rows = [
                {"id": new_id("etr"), "tenant_id": self.tenant_id, "message_id": m, "thread_id": t}
                for m, t in refs.items()
            ]
            self.session.connection().execute(_INSERT_REFS, rows)

    def thread_of_conversation(self, conversation_id: str) -> EmailThread | None:
        found = self.session.scalar(
            select(EmailThread)
            .where(
                EmailThread.tenant_id == self.tenant_id,
                EmailThread.conversation_id == conversation_id,
                EmailThread.joined_into_id.is_(None),
            )
            .order_by(EmailThread.id)
            .limit(1)
        )
        return found

    def refs_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        """Return the thread id of each of ``message_ids`` that is known."""
        if not message_ids:
            return {}
        rows = self.session.connection().execute(
            _THREADS_OF_MESSAGE_IDS, {"tenant_id": self.tenant_id, "ids": list(dict.fromkeys(message_ids))}
        )
        return {message_id: thread_id for message_id, thread_id in rows}

    def add_refs(self, message_ids: Sequence[str], thread_id: str) -> None:
        """Point each of ``message_ids`` not known yet at ``thread_id``."""
        unique = list(dict.fromkeys(message_ids))
        present = self.refs_of(unique)
        rows = [
            {"id": new_id("etr"), "tenant_id": self.tenant_id, "message_id": m, "thread_id": thread_id}
            for m in unique
            if m not in present
        ]
        if rows:
            self.session.connection().execute(_INSERT_REFS, rows)

    def move_thread(self, *, from_thread_id: str, to_thread_id: str) -> None:
        """Repoint the refs and emails of one thread at another."""
        for model in (EmailThreadRef, EmailMessage):
            self.session.execute(
                update(model)
                .where(model.tenant_id == self.tenant_id, model.thread_id == from_thread_id)
                .values(thread_id=to_thread_id)
            )
