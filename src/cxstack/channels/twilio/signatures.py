"""Twilio's request signature (``X-Twilio-Signature``), the same for messaging and voice webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from cxstack.channels.providers import FormParams

_DEFAULT_PORTS = {"http": 80, "https": 443}


def compute_signature(url: str, params: FormParams, auth_token: str) -> str:
    """Return Twilio's ``X-Twilio-Signature`` of a form posted to ``url``.

    HMAC-SHA1 keyed with the auth token over the full URL followed by every parameter's name and value,
    sorted by name (and a repeated name's values sorted), base64-encoded.
    """
    # Pairs sorted by name then value, a pair repeated counted once: as Twilio sorts them.
    data = url + "".join([name + value for name, value in sorted(set(params))])
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@lru_cache(maxsize=1024)
def _port_variants(url: str) -> tuple[str, ...]:
    """Return ``url`` with and without its scheme's default port (Twilio signs either, depending on how the
    webhook URL was configured)."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != default:
        return (url,)
    without = urlunsplit(parts._replace(netloc=host))
    if default is None:
        return (without,)
    return (without, urlunsplit(parts._replace(netloc=f"{host}:{default}")))


def signature_valid(*, url: str, params: FormParams, signature: str, auth_token: str) -> bool:
    """Return whether ``signature`` is Twilio's signature of a webhook posted to ``url``."""
    presented = signature.encode()
    return any(
        hmac.compare_digest(compute_signature(variant, params, auth_token).encode(), presented)
        for variant in _port_variants(url)
    )
