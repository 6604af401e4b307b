"""A vendor's name appears only under ``plugins/`` (ARCHITECTURE.md, Inside a layer), checked over the import
graph of the SMS and voice channels (as ``tests/test_layers.py`` reads it).

What SMS and voice share with Twilio (``channels/twilio``) and each channel's Twilio plugin may be imported
by the channel's ``plugins/`` and by where the channel is wired to its provider: its routes (``api``,
which serve the provider's webhooks under the provider's URL) and its ``handlers`` (which build the
provider its effects use, configured by the channel's settings in ``cxstack.config``). The domain code
(services, calls, menus, recordings) talks to the provider base class only. ``channels/twilio`` itself
knows neither channel, and ``channels/providers`` knows no vendor.
"""

from __future__ import annotations

import pytest
from tests.test_layers import SRC, scan

CHANNELS = ("cxstack.channels.sms", "cxstack.channels.voice")
SHARED_TWILIO = "cxstack.channels.twilio"
#: Where a channel is wired to its provider: these may name the vendor.
WIRING = frozenset({"api", "handlers"})


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_vendor_module(module: str) -> bool:
    """Whether ``module`` is vendor code: the shared Twilio package or a channel's plugin but its base."""
    if _within(module, SHARED_TWILIO):
        return True
    parts = module.split(".")
    return (
        any(_within(module, f"{channel}.plugins") for channel in CHANNELS)
        and len(parts) > 4
        and parts[4] != "base"
    )


def vendor_rule_broken(importer: str, imported: str) -> str | None:
    """Return why ``importer`` may not import ``imported``, or None when it may."""
    if _within(importer, SHARED_TWILIO) and any(_within(imported, channel) for channel in CHANNELS):
        return "channels/twilio is shared by SMS and voice and imports neither"
    if importer == "cxstack.channels.providers" and is_vendor_module(imported):
        return "channels/providers is vendor-neutral"
    channel = next((c for c in CHANNELS if _within(importer, c)), None)
    if channel is None or not is_vendor_module(imported):
        return None
    if _within(importer, f"{channel}.plugins"):
        return None
    parts = importer.split(".")
    if len(parts) == 4 and parts[3] in WIRING:
        return None
    return "the channel's domain code talks to its provider base class, never to a vendor's plugin"


def test_only_plugins_and_the_wiring_name_the_vendor() -> None:
    _, edges = scan(SRC)
    checked = [edge for edge in edges if edge.importer.startswith("cxstack.channels.")]
    assert any(is_vendor_module(edge.imported) for edge in checked), "no vendor import found; scan broken?"
    broken = [
        f"{edge.path}:{edge.line}: {edge.importer} imports {edge.imported}: {reason}"
        for edge in checked
        if (reason := vendor_rule_broken(edge.importer, edge.imported)) is not None
    ]
    assert not broken, "vendor names outside plugins/:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("cxstack.channels.voice.plugins.twilio", "cxstack.channels.twilio.rest", True),
        ("cxstack.channels.sms.plugins.twilio", "cxstack.channels.twilio.forms", True),
        ("cxstack.channels.voice.api", "cxstack.channels.voice.plugins.twilio", True),
        ("cxstack.channels.voice.api", "cxstack.channels.twilio.webhooks", True),
        ("cxstack.channels.voice.handlers", "cxstack.channels.voice.plugins.twilio", True),
        ("cxstack.channels.sms.handlers", "cxstack.channels.sms.plugins.twilio", True),
        ("cxstack.channels.voice.calls.control", "cxstack.channels.voice.plugins.base", True),
        ("cxstack.channels.voice.calls.control", "cxstack.channels.voice.plugins.twilio", False),
        ("cxstack.channels.voice.calls.outbound", "cxstack.channels.twilio.rest", False),
        ("cxstack.channels.voice.recordings.service", "cxstack.channels.twilio", False),
        ("cxstack.channels.voice.calls.api", "cxstack.channels.voice.plugins.twilio", False),
        ("cxstack.channels.sms.outbound", "cxstack.channels.sms.plugins.twilio", False),
        ("cxstack.channels.sms.intake", "cxstack.channels.twilio.rest", False),
        ("cxstack.channels.sms.service", "cxstack.channels.twilio.forms", False),
        ("cxstack.channels.twilio.webhooks", "cxstack.channels.sms.plugins.twilio", False),
        ("cxstack.channels.twilio.forms", "cxstack.channels.providers", True),
        ("cxstack.channels.providers", "cxstack.channels.twilio.rest", False),
    ],
)
def test_vendor_rule_allows_and_refuses(importer: str, imported: str, allowed: bool) -> None:
    assert (vendor_rule_broken(importer, imported) is None) is allowed
