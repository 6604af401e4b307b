"""The effect runner: claims due effects, performs them outside any transaction, records their outcomes.

See ``cxstack.backbone.effects`` for what an effect is and what each outcome records.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog

from cxstack.backbone.database import Database
from cxstack.backbone.delivery import RetryPolicy
from cxstack.backbone.effects import (
    EffectFailed,
    EffectJob,
    EffectKind,
    EffectRegistry,
    claim_due_effects,
    has_due_effects,
    record_failure,
    record_success,
)
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.kit.ids import new_id

log = structlog.get_logger("cxstack.effects")

#: After a wake-up, how long the runner waits for more commits before it looks for due effects once: under
#: load, commits come faster than effects are due, and a look for each would cost a read each.
WAKE_COALESCE_S = 0.05


def _runner_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id('efr')[-8:]}"


@dataclass
class _Stats:
    done: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0


class EffectRunner:
    """Claims due effects, performs them outside any transaction and records their outcomes, until stopped.

    Woken by commits in this process and by a short poll (a read; the writer is used only when something is
    due). Each kind has its own in-flight limit (``EffectKind.concurrency``): a kind whose effects are slow
    fills only its own slots, and the others' effects are claimed and performed meanwhile. At most
    ``batch_size`` effects of one kind are claimed at a time.
    """

    def __init__(
        self,
        db: Database,
        registry: EffectRegistry,
        *,
        policy: RetryPolicy,
        lease_s: float = 60.0,
        poll_s: float = 0.1,
        batch_size: int = 50,
        runner_id: str | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.policy = policy
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.batch_size = batch_size
        self.runner_id = runner_id or _runner_id()
        #: A performer has this long (within its claim) before its attempt counts as failed.
        self.perform_timeout_s = lease_s * 0.8
        self.stats = _Stats()
        self._wake = asyncio.Event()
        #: One claim at a time: a claim in progress is seen through, not skipped, by ``drain``.
        self._claiming = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        #: Effects in flight, by kind.
        self._running: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Look for due effects now (safe to call from the event loop only)."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is not None or not len(self.registry):
            return
        self._stopping = False
        self.db.add_commit_listener(self.wake)
        self._task = asyncio.create_task(self._run_forever(), name="effects")

    async def stop(self, *, grace_s: float = 5.0) -> None:
        """Stop claiming; wait up to ``grace_s`` for effects in flight, then abandon them (their claims end
        and another runner performs them again)."""
        self._stopping = True
        self.db.remove_commit_listener(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=grace_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _rooms(self) -> dict[str, int]:
        """Return {kind: how many more of its effects to claim now} for the kinds below their limit."""
        rooms = {
            kind.kind: min(self.batch_size, kind.concurrency - self._running[kind.kind])
            for kind in self.registry
        }
        return {kind: room for kind, room in rooms.items() if room > 0}

    async def run_once(self) -> int:
        """Claim the effects due now (each kind up to its free in-flight slots) and start performing them;
        return how many were claimed."""
        async with self._claiming:
            return await self._claim()

    async def _claim(self) -> int:
        rooms = self._rooms()
        if not rooms:
            return 0
        jobs = await self.db.write(
            lambda uow: claim_due_effects(
                uow,
                registry=self.registry,
                policy=self.policy,
                runner_id=self.runner_id,
                lease_s=self.lease_s,
                limits=rooms,
            ),
            context=Context(actor="effects"),
            background=True,
        )
        for job in jobs:
            task = asyncio.create_task(self._attempt(job), name=f"effect:{job.kind}:{job.id}")
            self._in_flight.add(task)
            self._running[job.kind] += 1
            task.add_done_callback(partial(self._finished, job.kind))
        return len(jobs)

    def _finished(self, kind: str, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._running[kind] -= 1

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Perform every effect due now, and those they make due at once, until none is left in flight
        (for tests and the CLI); effects waiting for a retry later are left waiting."""
        async with asyncio.timeout(timeout_s):
            while True:
                claimed = await self.run_once()
                if self._in_flight:
                    await asyncio.wait(set(self._in_flight))
                    continue
                if claimed == 0:
                    return

    async def _due(self) -> bool:
        kinds = list(self._rooms())
        if not kinds:
            return False
        now = self.db.clock.now()
        return await self.db.read(lambda session: has_due_effects(session, now=now, kinds=kinds))

    async def _run_forever(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self.run_once() if await self._due() else 0
            except Exception:
                log.exception("claiming effects failed")
                claimed = 0
                await asyncio.sleep(self.poll_s)
            if claimed and self._rooms():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
                # Woken by a commit: let a burst of commits settle into one look.
                await asyncio.sleep(WAKE_COALESCE_S)

    async def _attempt(self, job: EffectJob) -> None:
        kind = self.registry.get(job.kind)
        assert kind is not None
        try:
            async with asyncio.timeout(self.perform_timeout_s):
                result = await kind.perform(job, self.db.read)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not isinstance(error, EffectFailed):
                log.warning("effect attempt failed", kind=job.kind, effect_id=job.id, error=repr(error))
            failure = error
            await self._record(job, lambda uow: self._failed(uow, kind, job, failure))
            return
        await self._record(job, lambda uow: self._succeeded(uow, kind, job, result))

    def _succeeded(self, uow: UnitOfWork, kind: EffectKind, job: EffectJob, result: dict[str, Any]) -> None:
        if record_success(uow, kind=kind, job=job, runner_id=self.runner_id, result=result):
            self.stats.done += 1
        else:
            self.stats.lost += 1

    def _failed(self, uow: UnitOfWork, kind: EffectKind, job: EffectJob, error: BaseException) -> None:
        status = record_failure(
            uow, kind=kind, job=job, runner_id=self.runner_id, error=error, policy=self.policy
        )
        if status is None:
            self.stats.lost += 1
        elif status == "pending":
            self.stats.retried += 1
        elif status == "dead":
            self.stats.dead += 1
        else:
            self.stats.failed += 1

    async def _record(self, job: EffectJob, fn: Callable[[UnitOfWork], None]) -> None:
        try:
            await self.db.write(fn, context=Context(actor="effects"), background=True)
        except Exception:
            # The outcome is not recorded: the claim ends and the effect runs again (at least once).
            log.exception("recording an effect's outcome failed", kind=job.kind, effect_id=job.id)
        if not self._stopping:
            self.wake()
