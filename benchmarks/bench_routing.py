"""Routing decisions in memory: 1,000 agents online, 10,000 items waiting.

Builds a tenant's routing state: 20 queues (each requiring one or two of 10 skills at a minimum
proficiency, a third of them in a language other than English, some with fallback steps), 1,000 agents
(two to four skills at proficiencies 1-5, one or two languages, capacity per channel as the defaults, a
tenth taking calls), and enough items on webchat, email, SMS and voice that every agent is full and
10,000 wait. Then, `CXSTACK_BENCH_ROUTING_DECISIONS` times (default 20,000), an agent finishes an item
and a new item arrives, and `route` is timed: the decision that offers the freed capacity to the best
waiting item. A second phase times `route` for a new item when all 1,000 agents are free (every agent is
a candidate to score). Target: p99 <= 5 ms, goal 2 ms.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time

from benchmarks.harness import write_result
from cxstack.routing.engine import RoutingEngine
from cxstack.routing.model import AgentConfig, FallbackStep, Presence, QueueConfig

NAME = "routing"
DECISIONS_ENV = "CXSTACK_BENCH_ROUTING_DECISIONS"
AGENTS = 1_000
WAITING = 10_000
QUEUES = 20
SKILLS = [f"skill{n}" for n in range(10)]
LANGUAGES = ["en", "de", "fr", "es"]
CHANNELS = ["webchat", "email", "sms", "voice"]
STRATEGIES = ["skills", "longest_idle", "least_busy", "round_robin", "sticky"]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def build(rng: random.Random) -> tuple[RoutingEngine, list[QueueConfig]]:
    engine = RoutingEngine()
    queues = []
    for n in range(QUEUES):
        required = rng.sample(SKILLS, rng.choice((1, 1, 2)))
        queue = QueueConfig(
            f"queue{n}",
            priority=rng.choice((0, 0, 1, 2)),
            skills={skill: rng.randint(1, 3) for skill in required},
            language=None if n % 3 else rng.choice(LANGUAGES[1:]),
            strategy=STRATEGIES[n % len(STRATEGIES)],
            fallback=(
                FallbackStep(after_seconds=30, min_proficiency=1),
                FallbackStep(after_seconds=120, any_language=True),
            )
            if n % 2
            else (),
        )
        engine.upsert_queue(queue)
        queues.append(queue)
    for n in range(AGENTS):
        capacity = {"webchat": 3, "email": 2, "sms": 3, "inapp": 3}
        if n % 10 == 0:
            capacity["voice"] = 1
        languages = {"en", rng.choice(LANGUAGES)}
        engine.upsert_agent(
            AgentConfig(
                f"agent{n}",
                skills={skill: rng.randint(1, 5) for skill in rng.sample(SKILLS, rng.randint(2, 4))},
                languages=frozenset(languages),
                capacity=capacity,
            ),
            now=0.0,
            presence=Presence.AVAILABLE,
        )
    return engine, queues


def main() -> None:
    decisions = int(os.environ.get(DECISIONS_ENV, "20000"))
    rng = random.Random(1)
    engine, queues = build(rng)
    now = 0.0
    item_no = 0
    assigned: list[str] = []

    def arrive() -> None:
        nonlocal item_no
        item_no += 1
        queue = rng.choice(queues)
        engine.enqueue(
            item_id=f"item{item_no}",
            queue_id=queue.id,
            channel=rng.choice(CHANNELS),
            now=now,
            priority=rng.choice((0, 0, 0, 1)),
            customer_id=f"customer{rng.randrange(50_000)}",
        )

    def take(offers: list) -> None:  # type: ignore[type-arg]
        for offer in offers:
            engine.accept(offer.item_id, agent_id=offer.agent_id, now=now)
            assigned.append(offer.item_id)

    # Fill every agent, then keep 10,000 waiting.
    while True:
        for _ in range(500):
            now += 0.01
            arrive()
        take(engine.route(now))
        waiting = sum(q.waiting for q in engine.snapshot(now).queues)
        if waiting >= WAITING:
            break
    build_note = {"assigned": len(assigned), "waiting": waiting, "items": item_no}

    gc.collect()
    gc.freeze()
    timings: list[float] = []
    offers_made = 0
    for _ in range(decisions):
        now += 0.05
        done = assigned.pop(rng.randrange(len(assigned)))
        engine.complete(done, now=now)
        arrive()
        started = time.perf_counter()
        offers = engine.route(now)
        timings.append((time.perf_counter() - started) * 1000)
        offers_made += len(offers)
        take(offers)
    final = engine.snapshot(now)
    still_waiting = sum(q.waiting for q in final.queues)

    # All agents free: one new item, every agent a candidate.
    idle_engine, idle_queues = build(random.Random(2))
    idle_timings: list[float] = []
    for n in range(2_000):
        at = float(n)
        queue = idle_queues[n % len(idle_queues)]
        idle_engine.enqueue(item_id=f"i{n}", queue_id=queue.id, channel="webchat", now=at)
        started = time.perf_counter()
        offers = idle_engine.route(at)
        idle_timings.append((time.perf_counter() - started) * 1000)
        for offer in offers:
            idle_engine.accept(offer.item_id, agent_id=offer.agent_id, now=at)
            idle_engine.complete(offer.item_id, now=at)
    gc.unfreeze()

    write_result(
        NAME,
        {
            "decision_p50": (statistics.median(timings), "ms"),
            "decision_p99": (_percentile(timings, 0.99), "ms"),
            "decision_max": (max(timings), "ms"),
            "offers_per_decision": (offers_made / decisions, "offers"),
            "all_free_decision_p50": (statistics.median(idle_timings), "ms"),
            "all_free_decision_p99": (_percentile(idle_timings, 0.99), "ms"),
        },
        notes={
            "agents": AGENTS,
            "queues": QUEUES,
            "decisions": decisions,
            "waiting_at_start": build_note["waiting"],
            "waiting_at_end": still_waiting,
            "assigned_at_start": build_note["assigned"],
            "target": "p99 <= 5 ms, goal 2 ms",
        },
    )


if __name__ == "__main__":
    main()
