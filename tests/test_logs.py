"""A command's logs follow CXSTACK_LOG_LEVEL: lines below it are not written (neither structlog's nor the
standard library's), the rest go to standard error, never standard output (where --json goes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from cxstack.config import InvalidSettings, load_settings
from cxstack.kit.logs import configure_logs


@pytest.fixture(autouse=True)
def back_to_info() -> Iterator[None]:
    yield
    configure_logs("info")


def test_lines_below_the_level_are_not_written_and_the_rest_go_to_standard_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logs("warning")
    structured = structlog.get_logger("cxstack.test.logs")
    plain = logging.getLogger("cxstack.test.logs")
    structured.debug("routing decided quietly", conversation="cnv_1")
    structured.info("a routine note")
    plain.info("another routine note")
    structured.warning("effect attempt failed", kind="sms.send")
    plain.error("the relay refused the mail")
    out, err = capsys.readouterr()
    assert out == ""
    assert "routing decided quietly" not in err and "routine note" not in err
    assert "effect attempt failed" in err and "kind=sms.send" in err and "warning" in err
    assert "[ERROR] cxstack.test.logs: the relay refused the mail" in err


def test_debug_writes_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logs("debug")
    structlog.get_logger("cxstack.test.debug").debug("no queue takes the work", channel="sms")
    assert "no queue takes the work" in capsys.readouterr().err


def test_an_unknown_level_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTACK_LOG_LEVEL", "chatty")
    with pytest.raises(InvalidSettings, match="CXSTACK_LOG_LEVEL"):
        load_settings()
