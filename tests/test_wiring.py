"""The composition root builds a process's services once, typed, on the runtime's database and live feed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cxstack.config import Settings
from cxstack.kit.files import LocalFileStore
from cxstack.runtime import Runtime
from cxstack.web.app import create_app


def test_a_runtime_builds_its_services_once_on_its_database_and_live_feed(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cx.db'}", data_dir=tmp_path / "data")
    runtime = Runtime.build(settings, run_bus=False)
    services = runtime.services

    assert services.chat_hub.db is runtime.db
    assert services.chat_hub.live is runtime.live
    assert isinstance(services.files, LocalFileStore)
    assert services.files.root == tmp_path / "data" / "files"
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.files = services.files  # type: ignore[misc]
    # Every app serving the runtime reaches the same services; nothing is kept on the app but the runtime.
    first, second = create_app(runtime, manage_runtime=False), create_app(runtime, manage_runtime=False)
    assert first.state.runtime.services is second.state.runtime.services is services
    assert set(vars(first.state)["_state"]) == {"runtime"}
