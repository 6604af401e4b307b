"""An SMTP relay (the tenant's provider, or a local MTA) that outgoing mail (email replies, password
reset links) goes through, spoken to with an asyncio client so that a slow relay costs no thread and a send
given up on is abandoned at once."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import aiosmtplib


@dataclass(frozen=True, slots=True)
class RelaySettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout_s: float = 30.0


class RelayRefused(Exception):
    """The relay refused the message for good (a 5xx answer): sending it again will not help."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class RelayUnavailable(Exception):
    """The relay could not be reached, or answered "try later" (4xx): sending again later may work."""


async def send_via_relay(
    relay: RelaySettings, message: bytes, *, sender: str, recipients: Sequence[str]
) -> str:
    """Hand the raw ``message`` to the relay for ``recipients``; return the relay's answer to DATA.

    Raises RelayRefused for a permanent refusal (5xx, or a recipient refused with one), RelayUnavailable
    for a temporary one (4xx), a connection failure or a timeout.
    """
    client = aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        username=relay.username or None,
        password=(relay.password or "") if relay.username else None,
        timeout=relay.timeout_s,
        use_tls=relay.security == "tls",
        start_tls=relay.security == "starttls",
        tls_context=ssl.create_default_context() if relay.security != "none" else None,
    )
    try:
        async with client:
            refused, answer = await client.sendmail(sender, list(recipients), message)
    except aiosmtplib.SMTPRecipientsRefused as error:
        first = error.recipients[0]
        raise _refusal(first.code, first.message) from error
    except aiosmtplib.SMTPResponseException as error:
        raise _refusal(error.code, error.message) from error
    except (aiosmtplib.SMTPException, OSError) as error:
        raise RelayUnavailable(f"the relay {relay.host}:{relay.port} cannot be reached: {error}") from error
    if refused:
        code, reason = next(iter(refused.values()))
        raise _refusal(code, reason)
    return answer


def _refusal(code: int, reason: str) -> Exception:
    if code >= 500:
        return RelayRefused(code, reason)
    return RelayUnavailable(f"the relay answered {code} {reason}")
