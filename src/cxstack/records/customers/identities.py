"""Normalising identity values so that one customer is found however an identity is written."""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from cxstack.kit.errors import ValidationFailed

IdentityKind = Literal["email", "phone", "external", "webchat_visitor", "inapp_user"]
IDENTITY_KINDS: tuple[str, ...] = ("email", "phone", "external", "webchat_visitor", "inapp_user")
DEFAULT_REGION = "US"


#: An address of the plainest form: an ASCII dot-atom local part of at most 64 characters and a domain of
#: letters, digits and single hyphens under an alphabetic top-level domain, 254 characters in all. Every
#: such address that is not under a special-use name (``.test``, ``.local``...) is one ``email_validator``
#: accepts and normalises to itself, so it is taken as it is, lowercased, without the validator's
#: parsing (about 50 µs an address); anything else goes through the validator. A property test holds the
#: two to the same answers.
_PLAIN_EMAIL = re.compile(
    r"(?=.{6,254}\Z)(?=[^@]{1,64}@)"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})\Z"
)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def _plain_email(value: str) -> str | None:
    """The normalised form of ``value`` when it is a plain address (``_PLAIN_EMAIL``), else None."""
    match = _PLAIN_EMAIL.match(value)
    if match is None:
        return None
    domain = match.group(1).lower()
    if "--" in domain:  # IDNA labels (xn--) are decoded by the validator
        return None
    if any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE):
        return None
    return value.lower()


def normalise_email(value: str, *, field: str = "email") -> str:
    """Return the normalised address (lowercased, the domain in its Unicode form); raises
    ValidationFailed."""
    plain = _plain_email(value.strip())
    if plain is not None:
        return plain
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
