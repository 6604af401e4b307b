"""``cxstack effects``: dead effects are listed and can be retried from the command line."""

from __future__ import annotations

import asyncio
import re

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
    [dead] = [orjson.loads(line) for line in listed.stdout.splitlines()]
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


LONG_ERROR = (
    "Twilio answered 503: Service Unavailable. The upstream carrier did not answer in time; "
    "please retry the request later"
)


async def _unavailable(job: EffectJob, read: Reader) -> dict[str, object]:
    raise ConnectionError(LONG_ERROR)


async def _fine(job: EffectJob, read: Reader) -> dict[str, object]:
    return {"ok": True}


def test_effects_list_fits_80_columns_and_shows_what_matters(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXSTACK_DATABASE_URL", database_url)
    effects = EffectRegistry()
    effects.add("sms.send", _unavailable)
    effects.add("email.send", _fine)
    effects.add("voice.update", _unavailable)

    async def make_effects() -> None:
        runtime = Runtime.build(
            Settings(database_url=database_url), subscriptions=SubscriptionRegistry(), run_bus=False
        )
        await runtime.db.start()
        try:
            if runtime.db.driver == "sqlite":
                await upgrade(runtime.db)

            def enqueue(uow: UnitOfWork) -> None:
                key = "msg_01JAX3T6W9Q8F6V2N1R4S7K0ZB"
                enqueue_effect(uow, tenant_id="ten_1", kind="sms.send", key=key, payload={})
                enqueue_effect(uow, tenant_id="ten_1", kind="email.send", key=key, payload={})

            await runtime.db.write(enqueue)
            # sms.send dies after its one attempt; email.send is done.
            await EffectRunner(runtime.db, effects, policy=RetryPolicy(max_attempts=1)).drain()

            def enqueue_retried(uow: UnitOfWork) -> None:
                enqueue_effect(uow, tenant_id="ten_1", kind="voice.update", key="cal_1", payload={})

            await runtime.db.write(enqueue_retried)
            # voice.update fails once and waits minutes for its next attempt.
            runner = EffectRunner(runtime.db, effects, policy=RetryPolicy(max_attempts=5, base_delay_s=3600))
            await runner.drain()
        finally:
            await runtime.db.stop()

    asyncio.run(make_effects())
    cli = CliRunner()
    listed = cli.invoke(app, ["effects", "list", "--json"])
    by_kind = {e["kind"]: e for e in (orjson.loads(line) for line in listed.stdout.splitlines())}
    assert {k: e["status"] for k, e in by_kind.items()} == {
        "sms.send": "dead",
        "email.send": "done",
        "voice.update": "pending",
    }

    table = cli.invoke(app, ["effects", "list"], env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert max(len(line) for line in lines) <= 80, table.output
    assert "dead: 1" in lines[0] and "done: 1" in lines[0] and "pending: 1" in lines[0]
    for kind, effect in by_kind.items():
        [row] = [line for line in lines if effect["id"] in line]  # each id whole, on one line
        assert kind in row and effect["status"] in row, row
    dead_row = next(line for line in lines if by_kind["sms.send"]["id"] in line)
    assert dead_row.split()[3] == "1", dead_row  # attempts
    # The error is there, whole, on the lines under its effect (wrapped when it is long).
    assert LONG_ERROR in " ".join(" ".join(lines).split()), table.output
    retried_row = next(line for line in lines if by_kind["voice.update"]["id"] in line)
    assert re.search(r" in \d+[smh]$", retried_row), retried_row  # when it runs next

    wide = cli.invoke(app, ["effects", "list", "--wide"], env={"COLUMNS": "200"})
    assert wide.exit_code == 0, wide.output
    assert "msg_01JAX3T6W9Q8F6V2N1R4S7K0ZB" in wide.output and "ten_1" in wide.output
    assert LONG_ERROR in " ".join(wide.output.split())
