"""The README's table of settings names every setting a cxstack process reads from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from cxstack.channels.inapp.settings import InappSettings
from cxstack.channels.sms.settings import SmsSettings
from cxstack.channels.voice.settings import VoiceSettings
from cxstack.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _settings_section() -> str:
    text = README.read_text()
    start = text.index("### Settings")
    return text[start : text.index("\n#", start + 1)]


@pytest.mark.parametrize("settings", [Settings, SmsSettings, VoiceSettings, InappSettings])
def test_every_setting_is_in_the_readmes_table(settings: type[BaseSettings]) -> None:
    section = _settings_section()
    prefix = str(settings.model_config.get("env_prefix", ""))
    missing = [
        f"{prefix}{name}".upper()
        for name in settings.model_fields
        if f"`{prefix}{name}`".upper() not in section.upper()
    ]
    assert missing == [], f"README.md's Settings table lacks {', '.join(missing)}"


def test_the_readme_gives_the_data_dir_and_stream_prefix_with_their_defaults() -> None:
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in _settings_section().splitlines()
        if line.startswith("| `")
    }
    assert Settings.model_fields["data_dir"].default == Path("./var")
    assert rows["`CXSTACK_DATA_DIR`"] == "`./var`"
    assert rows["`CXSTACK_STREAM_PREFIX`"] == f"`{Settings.model_fields['stream_prefix'].default}`"
