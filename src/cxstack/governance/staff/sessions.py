"""Signing in with a password, the server-side sessions that follow, lock-out, and password resets.

A session's token lives only in the browser's cookie; the database keeps its SHA-256 digest, so a copy of
the database signs nobody in. A session ends at sign-out, when unused for the idle lifetime, at its
absolute end, and at once when its user is disabled or sets a new password.

Sign-in runs in three steps so that the argon2 check (tens of milliseconds) holds no write transaction:
``find_sign_in`` reads the user, the caller checks the password off the event loop, and
``record_sign_in`` records the outcome (a new session, or one more failure, which may lock the account).
A sign-in through the tenant's OIDC provider (``oidc``) opens its session with the same ``open_session``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from cxstack.backbone.effects import enqueue_effect
from cxstack.backbone.prepared import PreparedRead, Rows
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.governance.staff.models import PasswordReset, TeamMember, User, UserSession
from cxstack.governance.staff.passwords import PasswordHash, digest_of_token, new_token
from cxstack.governance.staff.repository import StaffRepository
from cxstack.governance.staff.schemas import SignedIn, UserPasswordChanged
from cxstack.governance.staff.service import SUBJECT_USER, normalise_email, user_out
from cxstack.governance.staff.visibility import Visibility
from cxstack.governance.tenants.service import get_tenant_by_slug
from cxstack.kit.errors import DomainError, Forbidden, Unauthorized, ValidationFailed
from cxstack.kit.ids import new_id

#: The effect that mails a password reset link.
RESET_MAIL_EFFECT = "user.password_reset_mail"
#: How long a reset link is valid.
RESET_LIFETIME = timedelta(hours=1)
#: ``last_seen_at`` is written at most this often per session.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class SignInFailed(Unauthorized):
    """Wrong password, unknown or disabled user alike: nothing tells them apart."""

    code = "sign_in_failed"
    title = "Sign-in failed"


class AccountLocked(DomainError):
    """Too many failed sign-ins in a row: the account is locked for a while, whatever the password."""

    status = 423
    code = "account_locked"
    title = "Account locked"


class CsrfInvalid(Forbidden):
    """A state-changing request signed in by cookie without the session's ``X-CSRF-Token``."""

    code = "csrf_invalid"
    title = "CSRF token missing or wrong"


class ResetTokenInvalid(ValidationFailed):
    """A reset link that is unknown, used, expired, or for a user since disabled."""

    code = "reset_token_invalid"
    title = "Reset link not valid"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long sessions last and when accounts lock (``Settings.auth``)."""

    idle: timedelta = timedelta(minutes=120)
    absolute: timedelta = timedelta(hours=12)
    lockout_attempts: int = 5
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class SignInCandidate:
    """The user an email names, as read before the password is checked (None fields: nobody)."""

    tenant_id: str | None
    user_id: str | None
    password_hash: str | None


def find_sign_in(session: Session, *, tenant: str, email: str) -> SignInCandidate:
    """Return the user the tenant slug and email name (an empty candidate for none)."""
    found = get_tenant_by_slug(session, slug=tenant.strip().lower())
    if found is None:
        return SignInCandidate(None, None, None)
    try:
        address = normalise_email(email)
    except ValidationFailed:
        return SignInCandidate(found.id, None, None)
    user = StaffRepository(session, found.id).user_by_email(address)
    if user is None:
        return SignInCandidate(found.id, None, None)
    return SignInCandidate(found.id, user.id, user.password_hash)


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    """What ``record_sign_in`` recorded: a session (``signed_in`` with its cookie token), a failure, or a
    lock (``locked_until``)."""

    kind: Literal["signed_in", "failed", "locked"]
    signed_in: SignedIn | None = None
    token: str | None = None
    locked_until: datetime | None = None

    def raise_unless_signed_in(self) -> tuple[SignedIn, str]:
        """Return the session and its token; raises SignInFailed or AccountLocked."""
        if self.kind == "locked":
            assert self.locked_until is not None
            raise AccountLocked(
                "too many failed sign-ins: the account is locked until "
                f"{self.locked_until.isoformat(timespec='seconds')}; try again then or reset the password",
                locked_until=self.locked_until.isoformat(),
            )
        if self.kind == "failed" or self.signed_in is None or self.token is None:
            raise SignInFailed("the email or password is wrong, or the account cannot sign in")
        return self.signed_in, self.token


def record_sign_in(
    uow: UnitOfWork, *, candidate: SignInCandidate, password_matched: bool, policy: SessionPolicy
) -> SignInOutcome:
    """Record a sign-in attempt whose password was checked: a new session when it matched a user who may
    sign in, else one more failure (locking the account after ``policy.lockout_attempts`` in a row, which
    is audited as ``user.locked``). A locked account fails whatever the password, until the lock ends."""
    if candidate.tenant_id is None or candidate.user_id is None:
        return SignInOutcome("failed")
    repo = StaffRepository(uow.session, candidate.tenant_id)
    user = repo.user(candidate.user_id, for_update=True)
    if user is None or user.disabled_at is not None:
        return SignInOutcome("failed")
    now = uow.clock.now()
    if user.locked_until is not None and user.locked_until > now:
        return SignInOutcome("locked", locked_until=user.locked_until)
    # The hash checked must still be the user's (not changed by a reset meanwhile).
    if not password_matched or user.password_hash is None or user.password_hash != candidate.password_hash:
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= policy.lockout_attempts:
            user.failed_sign_ins = 0
            user.locked_until = now + policy.lockout
            record_audit(
                uow,
                tenant_id=user.tenant_id,
                action="user.locked",
                target_type=SUBJECT_USER,
                target_id=user.id,
                detail={"until": user.locked_until.isoformat(), "attempts": policy.lockout_attempts},
            )
            return SignInOutcome("locked", locked_until=user.locked_until)
        return SignInOutcome("failed")
    return open_session(uow, repo, user, policy=policy)


def open_session(
    uow: UnitOfWork, repo: StaffRepository, user: User, *, policy: SessionPolicy
) -> SignInOutcome:
    """Start a session for a user whose sign-in succeeded (by password or through the tenant's OIDC
    provider): their failures and any lock are cleared, their ended sessions dropped."""
    now = uow.clock.now()
    user.failed_sign_ins = 0
    user.locked_until = None
    repo.end_ended_sessions(user.id, now=now, idle=policy.idle)
    token = new_token()
    started = UserSession(
        id=new_id("ses"),
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_digest=digest_of_token(token),
        csrf_token=new_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    uow.session.add(started)
    signed_in = SignedIn(
        user=user_out(repo, user), csrf_token=started.csrf_token, expires_at=started.expires_at
    )
    return SignInOutcome("signed_in", signed_in=signed_in, token=token)


def sign_out(uow: UnitOfWork, *, tenant_id: str, session_id: str) -> None:
    """End one session (ending an ended one changes nothing)."""
    found = uow.session.scalar(
        select(UserSession).where(UserSession.tenant_id == tenant_id, UserSession.id == session_id)
    )
    if found is not None:
        uow.session.delete(found)


# -- checking a session on each request ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionHolder:
    """Who a valid session cookie belongs to."""

    tenant_id: str
    session_id: str
    user_id: str
    role: str
    team_ids: tuple[str, ...]
    csrf_token: str
    last_seen_at: datetime
    expires_at: datetime
    #: The conversations they see (None: all, an admin).
    visibility: Visibility | None = None


_sessions = cast(Table, UserSession.__table__)
_users = cast(Table, User.__table__)
_members = cast(Table, TeamMember.__table__)
_teammates = _members.alias("teammates")

#: A session by its token's digest, with its user's role and whether they are disabled.
_SESSION_BY_DIGEST = PreparedRead(
    select(
        _sessions.c.tenant_id,
        _sessions.c.id,
        _sessions.c.user_id,
        _sessions.c.csrf_token,
        _sessions.c.last_seen_at,
        _sessions.c.expires_at,
        _users.c.role,
        _users.c.disabled_at,
    )
    .join(_users, _users.c.id == _sessions.c.user_id)
    .where(_sessions.c.token_digest == bindparam("digest"))
)
#: A person's teams, in the order they joined.
_TEAMS_OF = PreparedRead(
    select(_members.c.team_id)
    .where(_members.c.tenant_id == bindparam("tenant_id"), _members.c.user_id == bindparam("user_id"))
    .order_by(_members.c.added_at, _members.c.team_id)
)
#: The members of a person's teams (whose work a supervisor sees).
_TEAMMATES_OF = PreparedRead(
    select(_teammates.c.user_id)
    .select_from(
        _members.join(
            _teammates,
            (_teammates.c.tenant_id == _members.c.tenant_id) & (_teammates.c.team_id == _members.c.team_id),
        )
    )
    .where(_members.c.tenant_id == bindparam("tenant_id"), _members.c.user_id == bindparam("user_id"))
)


def find_session_holder(
    rows: Rows, *, token: str, now: datetime, policy: SessionPolicy
) -> SessionHolder | None:
    """Return the holder of a session that is valid now (not past its absolute end, used within the idle
    lifetime, its user not disabled), with what they see; None for any other token. Prepared point reads,
    as the checks of API keys are: this runs for every request a signed-in person makes."""
    found = rows.first(_SESSION_BY_DIGEST, digest=digest_of_token(token))
    if found is None:
        return None
    if (
        found["disabled_at"] is not None
        or found["expires_at"] <= now
        or found["last_seen_at"] + policy.idle <= now
    ):
        return None
    tenant_id, user_id, role = found["tenant_id"], found["user_id"], found["role"]
    team_ids = tuple(row["team_id"] for row in rows.all(_TEAMS_OF, tenant_id=tenant_id, user_id=user_id))
    visibility: Visibility | None = None
    if role != "admin":
        assignees = {user_id}
        if role == "supervisor" and team_ids:
            assignees.update(
                row["user_id"] for row in rows.all(_TEAMMATES_OF, tenant_id=tenant_id, user_id=user_id)
            )
        visibility = Visibility(team_ids=frozenset(team_ids), assignees=frozenset(assignees))
    return SessionHolder(
        tenant_id=tenant_id,
        session_id=found["id"],
        user_id=user_id,
        role=role,
        team_ids=team_ids,
        csrf_token=found["csrf_token"],
        last_seen_at=found["last_seen_at"],
        expires_at=found["expires_at"],
        visibility=visibility,
    )


def check_csrf(holder: SessionHolder, presented: str | None) -> None:
    """Raises CsrfInvalid unless ``presented`` is the session's CSRF token."""
    if not presented or not hmac.compare_digest(presented.encode(), holder.csrf_token.encode()):
        raise CsrfInvalid(
            "a request signed in with the session cookie must send the session's CSRF token in "
            "X-CSRF-Token (from the sign-in answer)",
            field="X-CSRF-Token",
        )


def record_session_use(uow: UnitOfWork, *, session_id: str) -> bool:
    """Set a session's ``last_seen_at`` to now unless it was set less than ``LAST_SEEN_RESOLUTION`` ago;
    return whether it was written."""
    now = uow.clock.now()
    result = uow.session.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.last_seen_at <= now - LAST_SEEN_RESOLUTION,
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


# -- password resets ----------------------------------------------------------------------------------


def request_password_reset(uow: UnitOfWork, *, tenant: str, email: str) -> bool:
    """Queue the mail of a one-time reset link to the user the tenant slug and email name, if there is one
    who may sign in and none was queued for them this minute; return whether one was queued (the API
    answers the same either way)."""
    candidate = find_sign_in(uow.session, tenant=tenant, email=email)
    if candidate.tenant_id is None or candidate.user_id is None:
        return False
    user = StaffRepository(uow.session, candidate.tenant_id).user(candidate.user_id)
    if user is None or user.disabled_at is not None:
        return False
    # One mail a minute per user at most: asking again within the minute sends nothing more.
    minute = int(uow.clock.now().timestamp()) // 60
    return enqueue_effect(
        uow,
        tenant_id=user.tenant_id,
        kind=RESET_MAIL_EFFECT,
        key=f"{user.id}:{minute}",
        payload={"user_id": user.id},
    )


def record_reset_link(uow: UnitOfWork, *, tenant_id: str, user_id: str, token_digest: str) -> None:
    """Store a reset link that was mailed (its token's digest), valid for ``RESET_LIFETIME``, once."""
    now = uow.clock.now()
    uow.session.add(
        PasswordReset(
            id=new_id("pwr"),
            tenant_id=tenant_id,
            user_id=user_id,
            token_digest=token_digest,
            created_at=now,
            expires_at=now + RESET_LIFETIME,
            used_at=None,
        )
    )


def confirm_password_reset(uow: UnitOfWork, *, token: str, password: PasswordHash) -> str:
    """Set the password of the user a valid reset link names, spend the link, clear any lock and end all
    the user's sessions; return the user's id. Raises ResetTokenInvalid (an unknown, used or expired link,
    or a disabled user). Publishes ``user.password_changed``; audited as the same action."""
    now = uow.clock.now()
    reset = uow.session.scalar(
        select(PasswordReset).where(PasswordReset.token_digest == digest_of_token(token)).with_for_update()
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise ResetTokenInvalid(
            "the reset link is not valid: used, expired, or not one we sent; ask for a new one",
            field="token",
        )
    repo = StaffRepository(uow.session, reset.tenant_id)
    user = repo.user(reset.user_id, for_update=True)
    if user is None or user.disabled_at is not None:
        raise ResetTokenInvalid("the reset link is not valid: the account is disabled", field="token")
    reset.used_at = now
    user.password_hash = password.value
    user.failed_sign_ins = 0
    user.locked_until = None
    user.updated_at = now
    ended = repo.end_sessions(user.id)
    # The change is the user's own, made through the link.
    uow = uow.acting_for(replace(uow.context, actor=f"user:{user.id}"))
    # Other links sent before this one are spent too: the password they were for is gone.
    for other in repo.unused_resets(user.id, now=now):
        other.used_at = now
    uow.publish(UserPasswordChanged(user_id=user.id), tenant_id=user.tenant_id, subject=user.id)
    record_audit(
        uow,
        tenant_id=user.tenant_id,
        action="user.password_changed",
        target_type=SUBJECT_USER,
        target_id=user.id,
        detail={"through": "reset_link", "sessions_ended": ended},
    )
    return user.id


def current_user(session: Session, *, holder: SessionHolder) -> SignedIn:
    """Return the signed-in user of a valid session, with its CSRF token and end; raises SessionGone
    Unauthorized should the user be gone."""
    repo = StaffRepository(session, holder.tenant_id)
    user = repo.user(holder.user_id)
    if user is None:
        raise Unauthorized("the session's user no longer exists")
    return SignedIn(user=user_out(repo, user), csrf_token=holder.csrf_token, expires_at=holder.expires_at)
