"""A tenant's people (users, with a role), its teams, their sign-in sessions, password reset tokens, and
the OpenID Connect provider they may sign in through with the sign-ins under way there.

Secrets of people are never stored in the clear: passwords as argon2id hashes, session and reset tokens
and sign-in states as SHA-256 digests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class User(TenantScoped, Base):
    """A person who works in cxstack: an agent, a supervisor or an admin of one tenant."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Lowercased and stripped (``normalise_email``): unique per tenant.
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    #: Of ``ROLES`` (``cxstack.governance.staff.schemas``).
    role: Mapped[str] = mapped_column(String(20))
    #: None until a password is set: such a user signs in only after a password reset.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    #: Failed sign-ins since the last success; at the tenant's limit the account locks until ``locked_until``.
    failed_sign_ins: Mapped[int]
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Team(TenantScoped, Base):
    """A group of users (Support, Billing): what routing will offer work to."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_teams_tenant_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class TeamMember(TenantScoped, Base):
    """A user's place in a team; a user may be in several."""

    __tablename__ = "team_members"
    __table_args__ = (Index("ix_team_members_user", "user_id"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime]


class UserSession(TenantScoped, Base):
    """A signed-in browser: valid until ``expires_at`` and while used within the idle lifetime."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token in the session cookie.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: What state-changing requests carry in ``X-CSRF-Token`` (readable by the page, so stored as given).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    #: Updated at most once a minute, so the idle lifetime may run up to a minute long.
    last_seen_at: Mapped[datetime]
    #: The absolute end of the session.
    expires_at: Mapped[datetime]


class PasswordReset(TenantScoped, Base):
    """A one-time password reset link sent to a user: valid until ``expires_at``, once."""

    __tablename__ = "password_resets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token in the link.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OidcProvider(TenantScoped, Base):
    """The tenant's OpenID Connect identity provider its people may sign in through (one per tenant)."""

    __tablename__ = "oidc_providers"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_oidc_providers_tenant"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Exactly as the provider's ID tokens name it in ``iss``.
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    #: A server secret, stored as given (the provider needs it back as given); never answered by the API.
    client_secret: Mapped[str] = mapped_column(String(500))
    #: Space-separated, ``openid`` among them.
    scopes: Mapped[str] = mapped_column(String(500))
    #: Whether a person the provider vouches for and the tenant does not know becomes a new agent.
    provision_users: Mapped[bool]
    #: The ID token's claim that holds the person's email.
    email_claim: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OidcSignIn(TenantScoped, Base):
    """A sign-in sent to the tenant's provider and not yet back: valid until ``expires_at``, once."""

    __tablename__ = "oidc_sign_ins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: SHA-256 of the ``state`` sent to the provider (the browser keeps the value in a cookie).
    state_digest: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    #: The PKCE verifier, sent with the code; the provider got only its S256 challenge.
    code_verifier: Mapped[str] = mapped_column(String(128))
    #: The provider the sign-in was sent to (a provider changed meanwhile fails it).
    issuer: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    #: Where the person goes once signed in: a path of this site.
    next_path: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
