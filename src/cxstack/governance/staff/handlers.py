"""The staff domain's effect: mailing a one-time password reset link through the SMTP relay.

The link's token is made when the mail is sent and stored only as its digest, once the relay took the mail
(``on_done``): the token is never written anywhere in the clear, not even in the effect's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import partial
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, EffectRegistry, Reader
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.staff.passwords import digest_of_token, new_token
from cxstack.governance.staff.repository import StaffRepository
from cxstack.governance.staff.sessions import RESET_LIFETIME, RESET_MAIL_EFFECT, record_reset_link
from cxstack.kit.smtp_relay import RelayRefused, RelaySettings, send_via_relay


@dataclass(frozen=True, slots=True)
class ResetMailSettings:
    """Where reset links point (``<public_url>/reset-password?token=…``) and who sends them."""

    public_url: str
    mail_from: str


@dataclass(frozen=True, slots=True)
class _Recipient:
    email: str
    name: str
    may_sign_in: bool


def _recipient(session: Session, *, tenant_id: str, user_id: str) -> _Recipient | None:
    user = StaffRepository(session, tenant_id).user(user_id)
    if user is None:
        return None
    return _Recipient(user.email, user.name, user.disabled_at is None)


def reset_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"


class ResetMailer:
    """The ``user.password_reset_mail`` effect: mails the link; a relay's permanent refusal fails it for
    good, one that cannot be reached is tried again (each attempt with a new token)."""

    def __init__(self, relay: RelaySettings | None, mail: ResetMailSettings) -> None:
        self.relay = relay
        self.mail = mail

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        user_id = str(job.payload["user_id"])
        recipient = await read(partial(_recipient, tenant_id=job.tenant_id, user_id=user_id))
        if recipient is None or not recipient.may_sign_in:
            return {"skipped": "the user is gone or disabled"}
        if self.relay is None:
            raise EffectFailed("no SMTP relay is configured (CXSTACK_SMTP_RELAY_HOST)")
        token = new_token()
        message = EmailMessage()
        message["From"] = self.mail.mail_from
        message["To"] = str(Address(display_name=recipient.name, addr_spec=recipient.email))
        message["Subject"] = "Reset your cxstack password"
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain="cxstack")
        minutes = int(RESET_LIFETIME.total_seconds() // 60)
        message.set_content(
            f"Hello {recipient.name},\n\n"
            f"someone (we hope you) asked to reset your cxstack password. To choose a new one, open:\n\n"
            f"{reset_link(self.mail.public_url, token)}\n\n"
            f"The link works once, within {minutes} minutes. If you did not ask, ignore this mail: your "
            "password stays as it is.\n"
        )
        sender = parseaddr(self.mail.mail_from)[1] or self.mail.mail_from
        try:
            await send_via_relay(self.relay, message.as_bytes(), sender=sender, recipients=[recipient.email])
        except RelayRefused as refused:
            raise EffectFailed(
                f"the relay refused the reset mail: {refused}", code=str(refused.code)
            ) from None
        return {"token_digest": digest_of_token(token)}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        """Store the mailed link's digest (valid from now for ``RESET_LIFETIME``)."""
        digest = result.get("token_digest")
        if isinstance(digest, str):
            record_reset_link(
                uow, tenant_id=job.tenant_id, user_id=str(job.payload["user_id"]), token_digest=digest
            )


def register_effects(
    registry: EffectRegistry, *, relay: RelaySettings | None, mail: ResetMailSettings
) -> None:
    """Register the effect that mails password reset links."""
    mailer = ResetMailer(relay, mail)
    registry.add(
        RESET_MAIL_EFFECT,
        mailer.perform,
        on_done=mailer.on_done,
        description="Mails a one-time password reset link to a user.",
    )
