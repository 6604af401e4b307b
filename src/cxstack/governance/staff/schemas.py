"""Users, teams and sign-in payloads for the API, and the events this domain publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel

#: What a person does in cxstack. ``agent`` works conversations; ``supervisor`` also watches the agents
#: (and reads the user list); ``admin`` also manages users, teams, keys and the audit log.
Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
#: The API scopes (``cxstack.governance.tenants.schemas.SCOPES``) a signed-in person of each role holds.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "agent": frozenset({"read", "write"}),
    "supervisor": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}
#: The fewest characters a password has.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


# -- events -------------------------------------------------------------------------------------------


class UserCreated(EventPayload, type="user.created"):
    """A user was added to a tenant."""

    user_id: str
    email: str
    name: str
    role: str
    team_ids: list[str] = Field(default_factory=list)


class UserUpdated(EventPayload, type="user.updated"):
    """A user's name or role changed (``changes``: the fields' new values)."""

    user_id: str
    changes: dict[str, str]


class UserDisabled(EventPayload, type="user.disabled"):
    """A user was disabled: their sessions ended and they can no longer sign in."""

    user_id: str


class UserPasswordChanged(EventPayload, type="user.password_changed"):
    """A user's password was set (through a reset link); their other sessions ended."""

    user_id: str


class TeamCreated(EventPayload, type="team.created"):
    """A team was created."""

    team_id: str
    name: str


class TeamMemberAdded(EventPayload, type="team.member_added"):
    """A user joined a team."""

    team_id: str
    user_id: str


class TeamMemberRemoved(EventPayload, type="team.member_removed"):
    """A user left a team."""

    team_id: str
    user_id: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    UserCreated,
    UserUpdated,
    UserDisabled,
    UserPasswordChanged,
    TeamCreated,
    TeamMemberAdded,
    TeamMemberRemoved,
)


# -- users and teams ----------------------------------------------------------------------------------


class UserCreate(StrictModel):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    team_ids: list[str] = Field(default_factory=list, max_length=50, description="Teams to join (team_…).")
    password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description="The initial password; none: the user sets one through a password reset.",
    )


class UserUpdate(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    team_ids: list[str] | None = Field(
        default=None, max_length=50, description="The user's teams from now on (replaces them)."
    )


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: str
    team_ids: list[str]
    has_password: bool = Field(description="False until a password is set (by the user, through a reset).")
    disabled_at: datetime | None
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


class TeamCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)


class TeamMemberIn(StrictModel):
    user_id: str = Field(min_length=1, max_length=32)


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    member_ids: list[str]
    created_at: datetime


# -- signing in ---------------------------------------------------------------------------------------


class SignIn(StrictModel):
    tenant: str = Field(min_length=1, max_length=63, description="The tenant's slug.", examples=["acme"])
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class SignedIn(BaseModel):
    """The signed-in user, and the token state-changing requests carry in ``X-CSRF-Token``."""

    user: UserOut
    csrf_token: str
    expires_at: datetime = Field(description="When the session ends at the latest.")


class PasswordResetRequest(StrictModel):
    tenant: str = Field(min_length=1, max_length=63, description="The tenant's slug.")
    email: str = Field(min_length=1, max_length=254)


class PasswordResetConfirm(StrictModel):
    token: str = Field(min_length=1, max_length=200, description="The token of the reset link.")
    password: str = Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"The new password: at least {MIN_PASSWORD_LENGTH} characters.",
    )


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


# -- signing in through an OpenID Connect provider ----------------------------------------------------


class OidcProviderIn(StrictModel):
    issuer: str = Field(
        min_length=1,
        max_length=255,
        description="The provider's issuer URL, exactly as its ID tokens give it in iss (HTTPS); its "
        "discovery document is at <issuer>/.well-known/openid-configuration.",
        examples=["https://login.acme.example/realms/staff"],
    )
    client_id: str = Field(min_length=1, max_length=255, description="cxstack's client id at the provider.")
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="cxstack's client secret at the provider; required the first time, left out to keep the "
        "one stored. Never shown again.",
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "profile"],
        min_length=1,
        max_length=20,
        description="The scopes asked for: openid among them.",
    )
    provision_users: bool = Field(
        default=False,
        description="Whether a person the provider vouches for whom the tenant does not know becomes a new "
        "agent; otherwise only the tenant's enabled users, matched by email, sign in.",
    )
    email_claim: str = Field(
        default="email", min_length=1, max_length=100, description="The ID token's claim holding the email."
    )


class OidcProviderOut(BaseModel):
    """The tenant's OIDC provider, without its client secret."""

    issuer: str
    client_id: str
    has_client_secret: bool = Field(description="Always true: the secret is stored and never shown.")
    scopes: list[str]
    provision_users: bool
    email_claim: str
    redirect_uri: str = Field(description="The redirect URI to register at the provider.")
    sign_in_url: str = Field(description="Where a person's browser starts signing in through the provider.")
    created_at: datetime
    updated_at: datetime
