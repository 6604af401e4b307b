"""The routing engine: who is offered what, and why."""

from __future__ import annotations

import random

import pytest

from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.routing.engine import RoutingEngine
from cxstack.routing.model import (
    AgentConfig,
    FallbackStep,
    ItemState,
    Presence,
    QueueConfig,
)

AVAILABLE = Presence.AVAILABLE


def engine_with(queue: QueueConfig, *agents: AgentConfig, now: float = 0.0) -> RoutingEngine:
    engine = RoutingEngine()
    engine.upsert_queue(queue)
    for agent in agents:
        engine.upsert_agent(agent, now=now, presence=AVAILABLE)
    return engine


def agent(agent_id: str, **skills: int) -> AgentConfig:
    return AgentConfig(agent_id, skills=skills or {"billing": 3})


def offered(engine: RoutingEngine, now: float) -> list[tuple[str, str]]:
    return [(offer.item_id, offer.agent_id) for offer in engine.route(now)]


def enqueue(engine: RoutingEngine, item_id: str, now: float, **extra: object) -> None:
    engine.enqueue(
        item_id=item_id, queue_id="q", channel=str(extra.pop("channel", "webchat")), now=now, **extra
    )  # type: ignore[arg-type]


# --- strategies ------------------------------------------------------------------------------------


def test_skills_offers_the_best_proficiency_and_says_why() -> None:
    engine = engine_with(
        QueueConfig("q", skills={"billing": 2, "refunds": 1}),
        AgentConfig("novice", skills={"billing": 2, "refunds": 1}),
        AgentConfig("expert", skills={"billing": 5, "refunds": 4}),
        AgentConfig("unskilled", skills={"billing": 5}),
    )
    enqueue(engine, "chat-1", 0.0)
    [offer] = engine.route(12.0)
    assert offer.agent_id == "expert"
    assert offer.reason.strategy == "skills"
    assert offer.reason.matched_skills == (("billing", 5), ("refunds", 4))
    assert offer.reason.fallback_step == 0
    assert offer.reason.wait_seconds == 12.0
    assert engine.item("chat-1").state is ItemState.OFFERED


def test_skills_ties_go_to_the_agent_idle_longest() -> None:
    engine = RoutingEngine()
    engine.upsert_queue(QueueConfig("q", skills={"billing": 1}))
    engine.upsert_agent(agent("recent"), now=50.0, presence=AVAILABLE)
    engine.upsert_agent(agent("waiting"), now=10.0, presence=AVAILABLE)
    enqueue(engine, "chat-1", 60.0)
    assert offered(engine, 60.0) == [("chat-1", "waiting")]


def test_longest_idle_counts_from_the_last_completed_work() -> None:
    engine = engine_with(QueueConfig("q", strategy="longest_idle"), agent("a"), agent("b"))
    enqueue(engine, "1", 0.0)
    assert offered(engine, 0.0) == [("1", "a")]  # equal idle times: the agent added first
    engine.accept("1", agent_id="a", now=0.0)
    engine.complete("1", now=100.0)  # a idle since 100, b since 0
    enqueue(engine, "2", 101.0)
    assert offered(engine, 101.0) == [("2", "b")]
    engine.accept("2", agent_id="b", now=101.0)
    enqueue(engine, "3", 102.0)
    assert offered(engine, 102.0) == [("3", "a")]  # b holds work now


def test_least_busy_offers_to_the_agent_holding_fewest_items() -> None:
    engine = engine_with(QueueConfig("q", strategy="least_busy"), agent("a"), agent("b"))
    for n, now in ((1, 0.0), (2, 1.0), (3, 2.0)):
        enqueue(engine, str(n), now)
    offers = offered(engine, 3.0)
    assert offers == [("1", "a"), ("2", "b"), ("3", "a")]


def test_round_robin_takes_turns_whoever_was_idle_longest() -> None:
    engine = engine_with(QueueConfig("q", strategy="round_robin"), agent("a"), agent("b"), agent("c"))
    picked = []
    for n in range(7):
        enqueue(engine, str(n), float(n))
        [offer] = engine.route(float(n))
        engine.accept(offer.item_id, agent_id=offer.agent_id, now=float(n))
        engine.complete(offer.item_id, now=float(n))
        picked.append(offer.agent_id)
    assert picked == ["a", "b", "c", "a", "b", "c", "a"]


def test_sticky_prefers_the_customers_last_agent_within_the_window() -> None:
    engine = engine_with(
        QueueConfig("q", skills={"billing": 1}, strategy="sticky", sticky_seconds=600),
        AgentConfig("expert", skills={"billing": 5}),
        AgentConfig("junior", skills={"billing": 1}),
    )
    engine.upsert_agent(AgentConfig("expert", skills={"billing": 5}), now=0.0, presence=Presence.AWAY)
    enqueue(engine, "first", 0.0, customer_id="cust-1")
    assert offered(engine, 0.0) == [("first", "junior")]
    engine.accept("first", agent_id="junior", now=0.0)
    engine.complete("first", now=100.0)
    engine.set_presence("expert", AVAILABLE, now=100.0)

    enqueue(engine, "again", 200.0, customer_id="cust-1")
    [offer] = engine.route(200.0)
    assert (offer.agent_id, offer.reason.strategy) == ("junior", "sticky")
    engine.decline("again", agent_id="junior", now=201.0)
    [offer] = engine.route(201.0)
    assert (offer.agent_id, offer.reason.strategy) == ("expert", "skills")  # last agent passed: skills

    enqueue(engine, "much-later", 1000.0, customer_id="cust-1")
    [offer] = engine.route(1000.0)
    assert (offer.agent_id, offer.reason.strategy) == ("expert", "skills")  # junior's window is over


def test_sticky_falls_back_to_skills_after_the_window() -> None:
    engine = engine_with(
        QueueConfig("q", skills={"billing": 1}, strategy="sticky", sticky_seconds=60),
        AgentConfig("expert", skills={"billing": 5}),
        AgentConfig("junior", skills={"billing": 1}),
    )
    engine.set_presence("expert", Presence.BUSY, now=0.0)
    enqueue(engine, "first", 0.0, customer_id="c")
    assert offered(engine, 0.0) == [("first", "junior")]
    engine.accept("first", agent_id="junior", now=0.0)
    engine.complete("first", now=10.0)
    engine.set_presence("expert", AVAILABLE, now=10.0)
    enqueue(engine, "second", 71.0, customer_id="c")
    [offer] = engine.route(71.0)
    assert (offer.agent_id, offer.reason.strategy) == ("expert", "skills")


# --- fallback and priority -------------------------------------------------------------------------


def test_fallback_widens_requirements_after_the_configured_waits() -> None:
    queue = QueueConfig(
        "q",
        skills={"billing": 4, "german": 3},
        teams=frozenset({"tier2"}),
        fallback=(
            FallbackStep(after_seconds=30, min_proficiency=1),
            FallbackStep(after_seconds=120, drop_skills=frozenset({"german"}), any_team=True),
        ),
    )
    engine = engine_with(
        queue,
        AgentConfig("weak-german", skills={"billing": 2, "german": 1}, teams=frozenset({"tier2"})),
        AgentConfig("other-team", skills={"billing": 5}, teams=frozenset({"tier1"})),
    )
    enqueued = engine.enqueue(item_id="x", queue_id="q", channel="webchat", now=0.0)
    assert enqueued.widens_at == (30.0, 120.0)
    assert engine.route(29.9) == []
    [offer] = engine.route(30.0)
    assert (offer.agent_id, offer.reason.fallback_step) == ("weak-german", 1)
    assert offer.reason.matched_skills == (("billing", 2), ("german", 1))
    engine.decline("x", agent_id="weak-german", now=31.0)
    engine.set_presence("weak-german", Presence.AWAY, now=31.0)
    assert engine.route(119.0) == []
    [offer] = engine.route(120.0)
    assert (offer.agent_id, offer.reason.fallback_step) == ("other-team", 2)
    assert offer.reason.matched_skills == (("billing", 5),)


def test_priority_ages_with_waiting() -> None:
    def first_offered(urgent_arrives_at: float) -> str:
        engine = engine_with(
            QueueConfig("q", aging_per_minute=1.0), AgentConfig("a", capacity={"webchat": 1})
        )
        engine.set_presence("a", Presence.AWAY, now=0.0)
        enqueue(engine, "normal", 0.0)
        enqueue(engine, "urgent", urgent_arrives_at, priority=2)
        engine.set_presence("a", AVAILABLE, now=urgent_arrives_at)
        [offer] = engine.route(urgent_arrives_at)
        return offer.item_id

    assert first_offered(90.0) == "urgent"  # normal has aged to 1.5 < 2
    assert first_offered(150.0) == "normal"  # normal has aged to 2.5 > 2


def test_an_old_item_outranks_a_higher_priority_queue_once_it_has_aged() -> None:
    def first_offered(low_waited: float) -> str:
        engine = RoutingEngine()
        engine.upsert_queue(QueueConfig("low", priority=0, aging_per_minute=1.0))
        engine.upsert_queue(QueueConfig("vip", priority=10, aging_per_minute=0.0))
        engine.upsert_agent(AgentConfig("a", capacity={"webchat": 1}), now=0.0)
        engine.enqueue(item_id="l", queue_id="low", channel="webchat", now=0.0)
        engine.enqueue(item_id="v", queue_id="vip", channel="webchat", now=low_waited)
        engine.set_presence("a", AVAILABLE, now=low_waited)
        [offer] = engine.route(low_waited)
        return offer.item_id

    assert first_offered(9 * 60.0) == "v"
    assert first_offered(11 * 60.0) == "l"


def test_higher_priority_queue_is_served_first() -> None:
    engine = RoutingEngine()
    engine.upsert_queue(QueueConfig("low", priority=0))
    engine.upsert_queue(QueueConfig("vip", priority=10))
    engine.upsert_agent(AgentConfig("a", capacity={"webchat": 1}), now=0.0)
    engine.enqueue(item_id="l", queue_id="low", channel="webchat", now=0.0)
    engine.enqueue(item_id="v", queue_id="vip", channel="webchat", now=60.0)
    engine.set_presence("a", AVAILABLE, now=61.0)
    assert offered(engine, 61.0) == [("v", "a")]


# --- capacity, presence, voice ---------------------------------------------------------------------


def test_capacity_per_channel_limits_offers() -> None:
    engine = engine_with(QueueConfig("q"), AgentConfig("a", capacity={"webchat": 2, "email": 1}))
    for n in range(3):
        enqueue(engine, f"chat-{n}", float(n))
    enqueue(engine, "mail", 0.0, channel="email")
    offers = offered(engine, 5.0)
    assert sorted(offers) == [("chat-0", "a"), ("chat-1", "a"), ("mail", "a")]
    engine.accept("chat-0", agent_id="a", now=5.0)
    engine.complete("chat-0", now=6.0)
    assert offered(engine, 6.0) == [("chat-2", "a")]


def test_voice_is_exclusive() -> None:
    engine = engine_with(
        QueueConfig("q"),
        AgentConfig("on-call", capacity={"webchat": 3, "voice": 1}),
    )
    enqueue(engine, "call", 0.0, channel="voice")
    assert offered(engine, 0.0) == [("call", "on-call")]
    enqueue(engine, "chat", 1.0)
    assert offered(engine, 1.0) == []  # on a call: nothing else
    engine.accept("call", agent_id="on-call", now=1.0)
    engine.complete("call", now=2.0)
    assert offered(engine, 2.0) == [("chat", "on-call")]
    enqueue(engine, "call-2", 3.0, channel="voice")
    assert offered(engine, 3.0) == []  # holding a chat: no call


def test_voice_with_other_work_when_configured() -> None:
    engine = engine_with(
        QueueConfig("q"), AgentConfig("a", capacity={"webchat": 3, "voice": 1}, voice_with_other_work=True)
    )
    enqueue(engine, "chat", 0.0)
    enqueue(engine, "call", 1.0, channel="voice")
    assert sorted(offered(engine, 1.0)) == [("call", "a"), ("chat", "a")]


def test_only_available_agents_get_offers_and_wrap_up_ends_on_time() -> None:
    engine = engine_with(QueueConfig("q", wrap_up_seconds=30), AgentConfig("a", capacity={"webchat": 1}))
    enqueue(engine, "1", 0.0)
    assert offered(engine, 0.0) == [("1", "a")]
    engine.accept("1", agent_id="a", now=0.0)
    completed = engine.complete("1", now=10.0)
    assert completed.wrap_up_until == 40.0
    enqueue(engine, "2", 11.0)
    assert offered(engine, 39.0) == []
    assert offered(engine, 40.0) == [("2", "a")]
    engine.decline("2", agent_id="a", now=41.0)
    for presence in (Presence.AWAY, Presence.BUSY, Presence.OFFLINE):
        engine.set_presence("a", presence, now=41.0)
        assert offered(engine, 42.0) == []
    engine.set_presence("a", AVAILABLE, now=43.0)
    assert offered(engine, 43.0) == [("2", "a")]


# --- offers ----------------------------------------------------------------------------------------


def test_decline_goes_to_the_next_agent_and_counts() -> None:
    engine = engine_with(
        QueueConfig("q", skills={"billing": 1}),
        AgentConfig("best", skills={"billing": 5}),
        AgentConfig("second", skills={"billing": 3}),
    )
    enqueue(engine, "chat", 0.0)
    assert offered(engine, 0.0) == [("chat", "best")]
    requeued = engine.decline("chat", agent_id="best", now=5.0)
    assert (requeued.reason, requeued.declines) == ("declined", 1)
    assert offered(engine, 5.0) == [("chat", "second")]
    engine.decline("chat", agent_id="second", now=6.0)
    assert offered(engine, 6.0) == [("chat", "best")]  # everyone passed: a new round, never dropped
    assert engine.item("chat").declines == 2


def test_expired_offer_goes_to_the_next_agent() -> None:
    engine = engine_with(QueueConfig("q"), agent("a"), agent("b"))
    enqueue(engine, "chat", 0.0)
    assert offered(engine, 0.0) == [("chat", "a")]
    requeued = engine.expire("chat", now=30.0)
    assert (requeued.reason, requeued.declines) == ("expired", 1)
    assert offered(engine, 30.0) == [("chat", "b")]
    presence = {a.agent_id: a.presence for a in engine.snapshot(30.0).agents}
    assert presence == {"a": Presence.AWAY, "b": AVAILABLE}  # a did not answer: no more offers to a


def test_offered_item_is_reserved_for_its_agent() -> None:
    engine = engine_with(QueueConfig("q"), agent("a"), agent("b"))
    enqueue(engine, "chat", 0.0)
    [offer] = engine.route(0.0)
    assert engine.route(1.0) == []
    with pytest.raises(Conflict):
        engine.accept("chat", agent_id="b", now=1.0)
    assigned = engine.accept("chat", agent_id=offer.agent_id, now=4.0)
    assert assigned.wait_seconds == 4.0
    with pytest.raises(Conflict):
        engine.decline("chat", agent_id="a", now=5.0)


def test_cancel_frees_the_reservation_and_forgets_the_item() -> None:
    engine = engine_with(QueueConfig("q"), AgentConfig("a", capacity={"webchat": 1}))
    enqueue(engine, "1", 0.0)
    enqueue(engine, "2", 1.0)
    assert offered(engine, 1.0) == [("1", "a")]
    engine.cancel("1", now=2.0)
    assert offered(engine, 2.0) == [("2", "a")]
    with pytest.raises(NotFound):
        engine.item("1")


def test_transfer_to_a_queue_and_to_an_agent() -> None:
    engine = RoutingEngine()
    engine.upsert_queue(QueueConfig("sales", skills={"sales": 1}))
    engine.upsert_queue(QueueConfig("billing", skills={"billing": 1}))
    engine.upsert_agent(AgentConfig("seller", skills={"sales": 3}), now=0.0, presence=AVAILABLE)
    engine.upsert_agent(AgentConfig("biller", skills={"billing": 3}), now=0.0, presence=AVAILABLE)
    engine.upsert_agent(AgentConfig("lead", skills={"billing": 5}), now=0.0, presence=Presence.BUSY)
    engine.enqueue(item_id="c", queue_id="sales", channel="webchat", now=0.0)
    [offer] = engine.route(0.0)
    engine.accept("c", agent_id=offer.agent_id, now=0.0)
    requeued = engine.transfer("c", now=60.0, to_queue="billing")
    assert requeued.queue_id == "billing"
    assert offered(engine, 60.0) == [("c", "biller")]
    engine.accept("c", agent_id="biller", now=61.0)
    with pytest.raises(Conflict):
        engine.transfer("c", now=62.0, to_agent="lead")  # busy
    engine.set_presence("lead", AVAILABLE, now=62.0)
    direct = engine.transfer("c", now=63.0, to_agent="lead")
    assert (direct.agent_id, direct.reason.strategy) == ("lead", "transfer")
    snapshot = engine.snapshot(63.0)
    loads = {a.agent_id: a.load.get("webchat", 0) for a in snapshot.agents}
    assert loads == {"biller": 0, "lead": 1, "seller": 0}


def test_a_transfer_to_a_team_offers_only_its_agents_at_every_fallback_step() -> None:
    queue = QueueConfig(
        "q",
        skills={"billing": 4},
        teams=frozenset({"tier1"}),
        fallback=(
            FallbackStep(after_seconds=30, min_proficiency=1),
            FallbackStep(after_seconds=120, any_team=True),
        ),
    )
    engine = engine_with(
        queue,
        AgentConfig("tier1-expert", skills={"billing": 5}, teams=frozenset({"tier1"})),
        AgentConfig("tier2-novice", skills={"billing": 2}, teams=frozenset({"tier2"})),
        AgentConfig("no-team", skills={"billing": 5}),
    )
    enqueue(engine, "x", 0.0)
    assert offered(engine, 0.0) == [("x", "tier1-expert")]
    engine.accept("x", agent_id="tier1-expert", now=1.0)
    requeued = engine.transfer("x", now=10.0, to_team="tier2")
    assert (requeued.queue_id, requeued.widens_at) == ("q", (40.0, 130.0))
    assert engine.item("x").team == "tier2"
    assert offered(engine, 10.0) == []  # the team's agent lacks the skill; better ones are not of the team
    [offer] = engine.route(40.0)  # the skills widen, the team does not
    assert (offer.agent_id, offer.reason.fallback_step) == ("tier2-novice", 1)
    engine.decline("x", agent_id="tier2-novice", now=41.0)
    engine.set_presence("tier2-novice", Presence.AWAY, now=41.0)
    assert offered(engine, 200.0) == []  # any_team widens the queue's teams, never the chosen one
    enqueue(engine, "y", 200.0)  # the queue's own work reaches agents of no team once any_team applies
    assert offered(engine, 330.0) == [("y", "no-team")]
    engine.upsert_agent(AgentConfig("tier2-new", teams=frozenset({"tier2"})), now=331.0, presence=AVAILABLE)
    assert offered(engine, 331.0) == []  # no billing at all: the queue's skills still apply
    engine.upsert_agent(
        AgentConfig("tier2-new", skills={"billing": 1}, teams=frozenset({"tier2"})), now=332.0
    )
    assert offered(engine, 332.0) == [("x", "tier2-new")]


def test_a_team_transfer_keeps_or_moves_the_queue_and_a_later_transfer_ends_it() -> None:
    engine = RoutingEngine()
    engine.upsert_queue(QueueConfig("sales"))
    engine.upsert_queue(QueueConfig("billing", teams=frozenset({"billers"})))
    engine.upsert_agent(AgentConfig("seller", teams=frozenset({"sellers"})), now=0.0, presence=Presence.BUSY)
    engine.upsert_agent(AgentConfig("lead", teams=frozenset({"leads"})), now=0.0, presence=Presence.BUSY)
    engine.enqueue(item_id="c", queue_id="sales", channel="webchat", now=0.0)
    engine.transfer("c", now=1.0, to_queue="billing", to_team="leads")
    assert (engine.item("c").queue_id, engine.item("c").team) == ("billing", "leads")
    engine.set_presence("seller", AVAILABLE, now=2.0)
    assert engine.route(2.0) == []
    engine.transfer("c", now=3.0, to_queue="sales")  # a queue alone: the team no longer applies
    assert engine.item("c").team is None
    assert offered(engine, 3.0) == [("c", "seller")]
    engine.transfer("c", now=4.0, to_team="leads")
    assert (engine.item("c").state, engine.item("c").queue_id) == (ItemState.WAITING, "sales")
    engine.set_presence("lead", AVAILABLE, now=5.0)
    direct = engine.transfer("c", now=6.0, to_agent="seller")
    assert direct.agent_id == "seller" and engine.item("c").team is None
    with pytest.raises(ValidationFailed) as both:
        engine.transfer("c", now=7.0, to_agent="lead", to_team="leads")
    assert both.value.field == "to_team"
    with pytest.raises(NotFound):
        engine.transfer("c", now=7.0, to_queue="nope", to_team="leads")
    assert engine.item("c").agent_id == "seller"


def test_a_rebuilt_engine_keeps_an_items_team() -> None:
    engine = engine_with(
        QueueConfig("q", fallback=(FallbackStep(after_seconds=10, any_team=True),)),
        AgentConfig("outsider"),
    )
    engine.upsert_agent(AgentConfig("member", teams=frozenset({"t"})), now=0.0, presence=Presence.AWAY)
    engine.restore(
        item_id="x", queue_id="q", channel="webchat", enqueued_at=0.0, state=ItemState.WAITING, team="t"
    )
    assert offered(engine, 60.0) == []
    engine.set_presence("member", AVAILABLE, now=61.0)
    assert offered(engine, 61.0) == [("x", "member")]


def test_snapshot_shows_waiting_oldest_wait_and_load() -> None:
    engine = engine_with(QueueConfig("q"), AgentConfig("a", capacity={"webchat": 1}))
    engine.upsert_queue(QueueConfig("empty"))
    enqueue(engine, "1", 0.0)
    enqueue(engine, "2", 10.0)
    enqueue(engine, "3", 20.0)
    engine.route(20.0)
    snapshot = engine.snapshot(50.0)
    stats = {q.queue_id: (q.waiting, q.offered, q.oldest_wait_seconds) for q in snapshot.queues}
    assert stats == {"q": (2, 1, 40.0), "empty": (0, 0, 0.0)}
    [agent_stats] = snapshot.agents
    assert agent_stats.load == {"webchat": 1}


def test_removing_an_agent_puts_their_items_back() -> None:
    engine = engine_with(QueueConfig("q"), agent("a"), agent("b"))
    enqueue(engine, "1", 0.0)
    engine.route(0.0)
    [requeued] = engine.remove_agent("a", now=1.0)
    assert (requeued.item_id, requeued.reason) == ("1", "agent_removed")
    assert offered(engine, 1.0) == [("1", "b")]


def test_language_must_match_unless_a_step_allows_any() -> None:
    engine = engine_with(
        QueueConfig("q", language="de", fallback=(FallbackStep(after_seconds=60, any_language=True),)),
        AgentConfig("english", languages=frozenset({"en"})),
    )
    engine.upsert_agent(AgentConfig("french", languages=frozenset({"fr"})), now=0.0, presence=AVAILABLE)
    enqueue(engine, "1", 0.0)
    enqueue(engine, "2", 0.0, language="fr")
    assert offered(engine, 1.0) == [("2", "french")]
    assert offered(engine, 60.0) == [("1", "english")]


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: QueueConfig("q", strategy="fastest"), "strategy"),
        (lambda: QueueConfig("q", skills={"billing": 6}), "skills.billing"),
        (lambda: AgentConfig("a", skills={"billing": 0}), "skills.billing"),
        (lambda: AgentConfig("a", capacity={"email": -1}), "capacity.email"),
        (lambda: AgentConfig(""), "id"),
        (
            lambda: QueueConfig("q", fallback=(FallbackStep(after_seconds=30, min_proficiency=9),)),
            "fallback[0].min_proficiency",
        ),
        (
            lambda: QueueConfig(
                "q", fallback=(FallbackStep(after_seconds=60), FallbackStep(after_seconds=30))
            ),
            "fallback[1].after_seconds",
        ),
        (
            lambda: QueueConfig("q", fallback=(FallbackStep(after_seconds=5, drop_skills=frozenset({"x"})),)),
            "fallback[0].drop_skills",
        ),
        (lambda: QueueConfig("q", aging_per_minute=-1), "aging_per_minute"),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        make()  # type: ignore[operator]
    assert refused.value.field == field
    assert field.split(".")[0].split("[")[0] in refused.value.detail


def test_bad_operations_are_refused() -> None:
    engine = engine_with(QueueConfig("q"), agent("a"))
    with pytest.raises(NotFound) as unknown_queue:
        engine.enqueue(item_id="1", queue_id="nope", channel="webchat", now=0.0)
    assert unknown_queue.value.field == "queue_id"
    enqueue(engine, "1", 0.0)
    with pytest.raises(Conflict):
        enqueue(engine, "1", 0.0)
    with pytest.raises(ValidationFailed) as bad_presence:
        engine.set_presence("a", "sleeping", now=0.0)
    assert bad_presence.value.field == "presence"
    with pytest.raises(ValidationFailed) as no_until:
        engine.set_presence("a", "wrap_up", now=0.0)
    assert no_until.value.field == "until"
    with pytest.raises(Conflict):
        engine.complete("1", now=1.0)
    with pytest.raises(Conflict):
        engine.remove_queue("q")


def test_changed_configuration_takes_effect_at_once() -> None:
    engine = engine_with(QueueConfig("q", skills={"billing": 4}), AgentConfig("a", skills={"billing": 3}))
    enqueue(engine, "1", 0.0)
    assert offered(engine, 0.0) == []
    engine.upsert_agent(AgentConfig("a", skills={"billing": 4}), now=1.0)
    assert offered(engine, 1.0) == [("1", "a")]
    engine.decline("1", agent_id="a", now=2.0)
    engine.upsert_agent(AgentConfig("a", skills={"billing": 4}, capacity={"email": 2}), now=2.0)
    assert offered(engine, 2.0) == []  # no webchat any more
    engine.upsert_queue(QueueConfig("q", skills={"billing": 4}))
    engine.upsert_agent(AgentConfig("b", skills={"billing": 2}), now=3.0, presence=AVAILABLE)
    assert offered(engine, 3.0) == []
    engine.upsert_queue(QueueConfig("q", skills={"billing": 2}))
    assert offered(engine, 4.0) == [("1", "b")]


def test_after_routing_no_waiting_item_fits_a_free_agent() -> None:
    """Random work against the engine, some of it transferred to a team; after every decision, nothing left
    waiting could go to a free agent."""
    rng = random.Random(5)
    skills = ["billing", "tech", "sales"]
    queues = [
        QueueConfig(
            f"q{n}",
            skills={rng.choice(skills): rng.randint(1, 5)},
            language=rng.choice([None, "de"]),
            fallback=(FallbackStep(after_seconds=20, min_proficiency=1, any_language=True),) if n % 2 else (),
        )
        for n in range(4)
    ]
    engine = RoutingEngine()
    for queue in queues:
        engine.upsert_queue(queue)
    configs: dict[str, AgentConfig] = {}
    now = 0.0
    items: dict[str, tuple[QueueConfig, str, str | None, float, str | None]] = {}
    assigned: list[str] = []
    for step in range(3000):
        now += rng.random() * 3
        action = rng.random()
        if action < 0.08 or not configs:
            agent_id = f"a{rng.randrange(12)}"
            configs[agent_id] = AgentConfig(
                agent_id,
                skills={skill: rng.randint(1, 5) for skill in rng.sample(skills, rng.randint(1, 3))},
                languages=frozenset(rng.sample(["en", "de"], rng.randint(1, 2))),
                teams=frozenset(rng.sample(["red", "blue"], rng.randint(0, 2))),
                capacity={"webchat": rng.randint(0, 2), "voice": 1},
            )
            engine.upsert_agent(configs[agent_id], now=now, presence=AVAILABLE)
        elif action < 0.15:
            engine.set_presence(
                rng.choice(sorted(configs)), rng.choice(list(Presence)), now=now, until=now + 5
            )
        elif action < 0.55:
            queue = rng.choice(queues)
            item_id = f"i{step}"
            channel = rng.choice(["webchat", "webchat", "voice"])
            language = rng.choice([None, "en", "de"])
            engine.enqueue(item_id=item_id, queue_id=queue.id, channel=channel, now=now, language=language)
            items[item_id] = (queue, channel, language or queue.language, now, None)
        elif action < 0.58 and items:
            item_id = rng.choice(sorted(items))
            if engine.item(item_id).state is ItemState.WAITING:
                team = rng.choice(["red", "blue"])
                engine.transfer(item_id, now=now, to_team=team)
                items[item_id] = (*items[item_id][:3], now, team)
        elif action < 0.62 and items:
            item_id = rng.choice(sorted(items))
            if engine.item(item_id).state is ItemState.WAITING:
                engine.cancel(item_id, now=now)
                del items[item_id]
        elif assigned:
            item_id = assigned.pop(rng.randrange(len(assigned)))
            engine.complete(item_id, now=now)
            del items[item_id]
        for offer in engine.route(now):
            kept_to = items[offer.item_id][4]
            assert kept_to is None or kept_to in configs[offer.agent_id].teams, (step, offer)
            engine.accept(offer.item_id, agent_id=offer.agent_id, now=now)
            assigned.append(offer.item_id)
        agents = {a.agent_id: a for a in engine.snapshot(now).agents}
        for item_id, (queue, channel, language, enqueued_at, team) in items.items():
            if engine.item(item_id).state is not ItemState.WAITING:
                continue
            requirement = queue.requirements[queue.step_at(now - enqueued_at)]
            for agent_id, stats in agents.items():
                config = configs[agent_id]
                load = stats.load
                takes = (
                    stats.presence is AVAILABLE
                    and load.get(channel, 0) < config.capacity.get(channel, 0)
                    and not load.get("voice", 0)
                    and (channel != "voice" or not sum(load.values()))
                    and (requirement.any_language or language is None or language in config.languages)
                    and (team is None or team in config.teams)
                    and all(config.skills.get(s, 0) >= level for s, level in requirement.skills)
                )
                assert not takes, f"step {step}: {item_id} waits while {agent_id} could take it"
