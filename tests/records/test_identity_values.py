"""Email addresses are normalised the same whether they take the plain-address path or the validator's."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstack.kit.errors import ValidationFailed
from cxstack.records.customers import identities
from cxstack.records.customers.identities import normalise_email


def by_validator(value: str) -> str | None:
    """What the validator alone makes of ``value`` (the path every address took before), or None."""
    try:
        local, _, domain = validate_email(value.strip(), check_deliverability=False).normalized.rpartition(
            "@"
        )
    except EmailNotValidError:
        return None
    return f"{local.lower()}@{domain.lower()}"


def normalised(value: str) -> str | None:
    try:
        return normalise_email(value)
    except ValidationFailed:
        return None


LABEL = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?\Z")
ATOM = st.text(alphabet="abcXYZ019!#$%&'*+/=?^_`{|}~-.", min_size=1, max_size=12)
TLD = st.sampled_from(["com", "ORG", "io", "c", "test", "local", "123", "museum", "xn--p1ai", "onion"])
ADDRESSES = st.one_of(
    st.builds(
        lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
        ATOM,
        st.lists(LABEL, min_size=1, max_size=3),
        TLD,
    ),
    st.from_regex(identities._PLAIN_EMAIL),
    st.text(max_size=30),
)


@settings(max_examples=600, deadline=None)
@given(ADDRESSES)
def test_an_address_gets_the_validator_s_answer_on_either_path(value: str) -> None:
    assert normalised(value) == by_validator(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  ada@example.com ", "ada@example.com"),
        ("ada@x.test", None),  # special-use names are refused by the validator
        ("ada@mail.localhost", None),
        ("ada@xn--bcher-kva.example", "ada@bücher.example"),  # IDNA: the validator's path
        ("a" * 65 + "@example.com", "a" * 65 + "@example.com"),  # longer than plain: the validator's path
        ("ada..l@example.com", None),
    ],
)
def test_plain_and_other_addresses(value: str, expected: str | None) -> None:
    assert normalised(value) == expected
    assert normalised(value) == by_validator(value)
