"""Fixtures shared by the channels' tests: a real SMTP relay standing in for a tenant's outbound one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from benchmarks.harness import free_port
from tests.channels.email.support import RecordingRelay


@pytest.fixture
def relay() -> Iterator[RecordingRelay]:
    """A real SMTP server in a thread, standing in for the tenant's outbound relay."""
    recording = RecordingRelay(port=free_port())
    controller = Controller(recording, hostname="127.0.0.1", port=recording.port)
    controller.start()
    try:
        yield recording
    finally:
        controller.stop()
