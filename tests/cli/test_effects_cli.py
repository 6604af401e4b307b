"""``cxstack effects``: dead effects are listed and can be retried from the command line."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from typer.testing import CliRunner

from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.effect_runner import EffectRunner
from cxstack.backbone.effects import (
    EffectJob,
    EffectRegistry,
    Reader,
    enqueue_effect,
    list_effects,
)
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.subscriptions import SubscriptionRegistry
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.cli.main import app
from cxstack.config import Settings
from cxstack.runtime import Runtime


async def _failing(job: EffectJob, read: Reader) -> dict[str, object]:
    raise ConnectionError("crm unreachable")


def test_dead_effects_are_listed_and_retried(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", database_url)
    effects = EffectRegistry()
    effects.add("crm.sync", _failing)

    async def make_dead() -> None:
        runtime = Runtime.build(
            Settings(database_url=database_url), subscriptions=SubscriptionRegistry(), run_bus=False
        )
        await runtime.db.start()
        try:
            if runtime.db.driver == "sqlite":
                await upgrade(runtime.db)

            def enqueue(uow: UnitOfWork) -> bool:
                return enqueue_effect(uow, tenant_id="ten_1", kind="crm.sync", key="cus_1", payload={})

            await runtime.db.write(enqueue)
            runner = EffectRunner(runtime.db, effects, policy=RetryPolicy(max_attempts=1))
            await runner.drain()
        finally:
            await runtime.db.stop()

    asyncio.run(make_dead())
    cli = CliRunner()
    listed = cli.invoke(app, ["effects", "list", "--status", "dead", "--json"])
    assert listed.exit_code == 0, listed.output
    [dead] = [orjson.loads(line) for line in listed.output.splitlines()]
    assert (dead["kind"], dead["key"], dead["attempts"]) == ("crm.sync", "cus_1", 1)
    assert dead["last_error"] == "crm unreachable"
    table = cli.invoke(app, ["effects", "list"])
    assert "dead: 1" in table.output and "crm.sync" in table.output

    retried = cli.invoke(app, ["effects", "retry", dead["id"]])
    assert retried.exit_code == 0, retried.output
    assert f"{dead['id']} (crm.sync cus_1) is due again" in retried.output
    again = cli.invoke(app, ["effects", "retry", dead["id"]])
    assert again.exit_code == 1 and "is pending" in again.output

    async def statuses() -> list[str]:
        runtime = Runtime.build(
            Settings(database_url=database_url), subscriptions=SubscriptionRegistry(), run_bus=False
        )
        await runtime.db.start()
        try:
            return [e.status for e in await runtime.db.read(lambda session: list_effects(session))]
        finally:
            await runtime.db.stop()

    assert asyncio.run(statuses()) == ["pending"]
