"""What every channel's provider plugins share, whatever the vendor: the form a webhook posts, the error for
one that cannot be read, and the credentials a call to the provider is made with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cxstack.kit.errors import DomainError

#: A form body as posted: (name, value) pairs in order, a name may repeat.
FormParams = Sequence[tuple[str, str]]


class MalformedWebhook(DomainError):
    """A webhook whose payload lacks a field or carries one that cannot be read (400, naming the field)."""

    status = 400
    code = "malformed_webhook"
    title = "Malformed webhook"


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """The account a number belongs to at its provider, and the secret that signs its requests."""

    account_sid: str
    auth_token: str
