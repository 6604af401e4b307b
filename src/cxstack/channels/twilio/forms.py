"""Reading the fields of Twilio's webhook forms: the first value of each, required fields, Twilio ids,
and phone numbers (a national one read in the country Twilio names beside it, ``FromCountry``)."""

from __future__ import annotations

import re
from functools import lru_cache

from cxstack.channels.providers import FormParams, MalformedWebhook
from cxstack.kit.errors import ValidationFailed
from cxstack.records.customers.service import normalise_phone

#: Any Twilio id: two letters of its kind, then 32 hexadecimal digits.
SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
#: The country of numbers a webhook names without saying where they are.
DEFAULT_COUNTRY = "US"
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def first_values(params: FormParams) -> dict[str, str]:
    """The form's first value of each name."""
    found: dict[str, str] = {}
    for name, value in params:
        found.setdefault(name, value)
    return found


def required(values: dict[str, str], name: str) -> str:
    """The value of ``name``, stripped; raises MalformedWebhook when it is absent or blank."""
    value = values.get(name)
    if value is None or not value.strip():
        raise MalformedWebhook(f"the webhook has no {name}", field=name)
    return value.strip()


def sid(values: dict[str, str], name: str, pattern: re.Pattern[str] = SID) -> str:
    """The Twilio id in ``name``; raises MalformedWebhook when it is absent or not one of ``pattern``."""
    value = required(values, name)
    if not pattern.match(value):
        raise MalformedWebhook(f"{name} {value!r} is not a Twilio id", field=name)
    return value


@lru_cache(maxsize=65_536)
def _e164_or_none(value: str, region: str) -> str | None:
    try:
        return normalise_phone(value, region=region)
    except ValidationFailed:
        return None


def webhook_country(value: str | None, *, field: str) -> str:
    """Return the ISO 3166 country Twilio names in ``field`` (``FromCountry``, ``ToCountry``), upper-case;
    ``US`` when the webhook leaves it out. Raises MalformedWebhook naming ``field`` for anything else."""
    value = (value or "").strip()
    if not value:
        return DEFAULT_COUNTRY
    if not _COUNTRY.match(value):
        raise MalformedWebhook(f"{field} {value!r} is not an ISO 3166 country code", field=field)
    return value.upper()


def webhook_phone(value: str, *, field: str, country: str = DEFAULT_COUNTRY) -> str:
    """Return a number a webhook carries in E.164, reading one in national format (``07911 123456``) as a
    number of ``country`` (Twilio's ``FromCountry`` or ``ToCountry``); raises MalformedWebhook naming
    ``field``.

    Webhooks name the same few numbers over and over (a tenant's numbers, its customers' phones): their
    normalisation is remembered, since parsing a number is a good part of a webhook's cost."""
    found = _e164_or_none(value, country)
    if found is None:
        try:
            normalise_phone(value, region=country, field=field)
        except ValidationFailed as error:
            raise MalformedWebhook(error.detail, field=field) from None
        raise MalformedWebhook(f"{value!r} is not a valid phone number", field=field)
    return found
