"""An agent's socket lives as long as its API key: revoked from the command line (another process) it
is closed within ``KEY_RECHECK_SECONDS``, revoked in the serving process at once; either way with an
``unauthorized`` error frame and close code 1008, while the tenant's other sockets stay open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from tests.channels.webchat.conftest import LiveServer, Socket, agent, connect
from tests.conftest import TenantKey
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.webchat.agent_socket import KEY_RECHECK_SECONDS
from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.governance.tenants.schemas import IssuedApiKey
from cxstack.governance.tenants.service import issue_api_key, revoke_api_key
from cxstack.runtime import Runtime


async def _second_key(runtime: Runtime, tenant: TenantKey) -> IssuedApiKey:
    def issue(uow: UnitOfWork) -> IssuedApiKey:
        return issue_api_key(uow, tenant_id=tenant.tenant_id, name="desk")

    return await runtime.db.write(issue)


@contextlib.asynccontextmanager
async def _desk(server: LiveServer, key: str) -> AsyncIterator[Socket]:
    headers = {"Authorization": f"Bearer {key}"}
    async with connect(server.ws_url + "/ws/agent", additional_headers=headers) as socket:
        await socket.expect("welcome")
        yield socket


async def _closed_for_its_key(socket: Socket, within_s: float) -> None:
    error = await socket.expect("error", timeout_s=within_s)
    assert error["code"] == "unauthorized"
    with pytest.raises(ConnectionClosed) as closed:
        await socket.next()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008 and "API key" in closed.value.rcvd.reason


async def test_an_agent_socket_is_closed_when_its_key_is_revoked_from_the_command_line(
    server: LiveServer,
    runtime: Runtime,
    tenant: TenantKey,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", settings.database_url)
    issued = await _second_key(runtime, tenant)
    async with agent(server, tenant) as other, _desk(server, issued.key) as desk:
        revoked = await asyncio.to_thread(
            CliRunner().invoke, app, ["keys", "revoke", issued.id, "--tenant", tenant.tenant_id]
        )
        assert revoked.exit_code == 0, revoked.output
        await _closed_for_its_key(desk, within_s=KEY_RECHECK_SECONDS + 3)
        await other.send({"type": "ping"})
        assert await other.expect("pong") == {"type": "pong"}


async def test_an_agent_socket_is_closed_at_once_when_its_key_is_revoked_by_this_process(
    server: LiveServer, runtime: Runtime, tenant: TenantKey
) -> None:
    issued = await _second_key(runtime, tenant)
    async with agent(server, tenant) as other, _desk(server, issued.key) as desk:
        await runtime.db.write(
            lambda uow: revoke_api_key(uow, tenant_id=tenant.tenant_id, api_key_id=issued.id)
        )
        await _closed_for_its_key(desk, within_s=min(2.0, KEY_RECHECK_SECONDS / 2))
        await other.send({"type": "ping"})
        assert await other.expect("pong") == {"type": "pong"}
