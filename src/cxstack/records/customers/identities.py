"""Normalising identity values so that one customer is found however an identity is written."""

from __future__ import annotations

from typing import Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from cxstack.kit.errors import ValidationFailed

IdentityKind = Literal["email", "phone", "external", "webchat_visitor", "inapp_user"]
IDENTITY_KINDS: tuple[str, ...] = ("email", "phone", "external", "webchat_visitor", "inapp_user")
DEFAULT_REGION = "US"


def normalise_email(value: str, *, field: str = "email") -> str:
    """Return the normalised address (domain lowercased, local part kept); raises ValidationFailed."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(f"{value!r} is not a valid email address: {error}", field=field) from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


def normalise_phone(value: str, *, region: str = DEFAULT_REGION, field: str = "phone") -> str:
    """Return the number in E.164 (``+14155552671``); raises ValidationFailed.

    Numbers without a country code are read in ``region`` (ISO 3166 alpha-2).
    """
    try:
        number = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException as error:
        raise ValidationFailed(f"{value!r} is not a phone number: {error}", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(f"{value!r} is not a valid phone number", field=field)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_identity(kind: str, value: str, *, region: str = DEFAULT_REGION, field: str = "value") -> str:
    """Return the canonical form of an identity value of ``kind``; raises ValidationFailed."""
    if kind not in IDENTITY_KINDS:
        raise ValidationFailed(
            f"identity kind {kind!r} is not one of {', '.join(IDENTITY_KINDS)}", field="kind"
        )
    if kind == "email":
        return normalise_email(value, field=field)
    if kind == "phone":
        return normalise_phone(value, region=region, field=field)
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 320:
        raise ValidationFailed(f"a {kind} identity needs a value of 1-320 characters", field=field)
    return cleaned
