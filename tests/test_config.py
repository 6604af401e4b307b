"""The settings: every one is in the README's table, the channels' nested settings keep their environment
variables, and a value a setting refuses stops the process at start-up, naming its variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from cxstack.channels.inapp.plugins import apns, fcm
from cxstack.channels.twilio import rest
from cxstack.cli.main import app
from cxstack.config import (
    ENV_PREFIX,
    InappSettings,
    InvalidSettings,
    Settings,
    SmsSettings,
    VoiceSettings,
    load_settings,
    variable_of,
)

README = Path(__file__).resolve().parents[1] / "README.md"


def _settings_section() -> str:
    text = README.read_text()
    start = text.index("### Settings")
    return text[start : text.index("\n#", start + 1)]


def _variables(model: type[BaseModel], place: tuple[str, ...] = ()) -> list[str]:
    """Every environment variable of ``model``'s settings, nested models' included."""
    found: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _variables(annotation, (*place, name))
        else:
            found.append(variable_of((*place, name)))
    return found


def test_every_setting_is_in_the_readmes_table() -> None:
    section = _settings_section().upper()
    variables = _variables(Settings)
    assert {"CXSTACK_PORT", "CXSTACK_SMS_TWILIO_API_URL", "CXSTACK_INAPP_APNS_CA_FILE"} <= set(variables)
    missing = [variable for variable in variables if f"`{variable}`" not in section]
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


def test_the_channels_nested_settings_read_their_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CXSTACK_SMS_TWILIO_API_URL", "http://twilio.test")
    monkeypatch.setenv("CXSTACK_SMS_PUBLIC_URL", "https://cx.example.com")
    monkeypatch.setenv("CXSTACK_SMS_SEND_TIMEOUT_SECONDS", "3.5")
    monkeypatch.setenv("CXSTACK_VOICE_DELETE_RECORDINGS_AFTER_COPY", "true")
    monkeypatch.setenv("CXSTACK_VOICE_HOLD_MUSIC_URL", "https://cx.example.com/hold.mp3")
    monkeypatch.setenv("CXSTACK_INAPP_FCM_TOKEN_URL", "http://google.test/token")
    monkeypatch.setenv("CXSTACK_INAPP_APNS_CA_FILE", "/etc/cx/apns.pem")
    monkeypatch.setenv("CXSTACK_SMTP_RELAY_HOST", "relay.example.com")

    settings = load_settings()

    assert settings.sms.twilio_api_url == "http://twilio.test"
    assert settings.sms.public_url == "https://cx.example.com"
    assert settings.sms.send_timeout_seconds == 3.5
    assert settings.voice.delete_recordings_after_copy is True
    assert settings.voice.hold_music_url == "https://cx.example.com/hold.mp3"
    assert settings.voice.twilio_api_url == "https://api.twilio.com"
    assert settings.inapp.fcm_token_url == "http://google.test/token"
    assert settings.inapp.apns_ca_file == "/etc/cx/apns.pem"
    assert settings.smtp_relay_host == "relay.example.com"
    # Settings given in code keep the channels' settings of the environment.
    assert Settings(port=9000).sms.public_url == "https://cx.example.com"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CXSTACK_SMS_SEND_TIMEOUT_SECONDS", "0"),
        ("CXSTACK_VOICE_DELETE_RECORDINGS_AFTER_COPY", "sometimes"),
        ("CXSTACK_INAPP_PUSH_TIMEOUT_SECONDS", "soon"),
        ("CXSTACK_PORT", "eighty"),
        ("CXSTACK_EFFECT_CONCURRENCY", '{"email.send": 0}'),
    ],
)
def test_a_refused_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidSettings, match=rf"\b{variable}: "):
        load_settings()


def test_a_command_stops_at_start_up_on_a_refused_channel_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTACK_SMS_SEND_TIMEOUT_SECONDS", "-1")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "CXSTACK_SMS_SEND_TIMEOUT_SECONDS" in result.output
    assert "greater than 0" in result.output


def test_variables_are_named_from_the_settings_place() -> None:
    assert variable_of(("sms", "public_url")) == f"{ENV_PREFIX}SMS_PUBLIC_URL"
    assert variable_of(("effect_concurrency", "email.send")) == "CXSTACK_EFFECT_CONCURRENCY"
    assert variable_of(("smtp_relay_port",)) == "CXSTACK_SMTP_RELAY_PORT"


def test_the_channels_settings_default_to_the_providers_own_endpoints() -> None:
    assert SmsSettings().twilio_api_url == VoiceSettings().twilio_api_url == rest.DEFAULT_API_URL
    settings = InappSettings()
    assert (settings.fcm_api_url, settings.fcm_token_url) == (fcm.DEFAULT_API_URL, fcm.DEFAULT_TOKEN_URL)
    assert (settings.apns_url, settings.apns_sandbox_url) == (apns.PRODUCTION_URL, apns.SANDBOX_URL)
