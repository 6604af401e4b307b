"""``cxstack simulate``: the staffing simulator, beside the Erlang C formula."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxstack.kit.errors import ValidationFailed
from cxstack.routing import erlang
from cxstack.routing.model import Strategy
from cxstack.routing.simulation import Scenario, SimulationResult, load_scenario, simulate, single_skill

console = Console()
errors = Console(stderr=True)
STRATEGIES = ", ".join(strategy.value for strategy in Strategy)


def _positive(value: float | None, flag: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be more than 0, got {value}", param_hint=flag)


def simulate_command(
    agents: int = typer.Option(None, "--agents", help="Agents taking one contact at a time."),
    arrivals_per_hour: float = typer.Option(None, "--arrivals-per-hour", help="Contacts arriving per hour."),
    aht_seconds: float = typer.Option(None, "--aht-seconds", help="Average handle time (exponential)."),
    sla_seconds: float = typer.Option(
        None, "--sla-seconds", help="Service level target in seconds; default 20."
    ),
    hours: float = typer.Option(None, "--hours", help="Simulated hours; default 200."),
    seed: int = typer.Option(None, "--seed", help="Random seed; default 1."),
    patience_seconds: float = typer.Option(
        None, "--patience-seconds", help="Mean customer patience (exponential); none: nobody abandons."
    ),
    strategy: str = typer.Option(None, "--strategy", help=f"Routing strategy: {STRATEGIES}; default skills."),
    scenario_file: Path = typer.Option(
        None, "--scenario", help="A TOML or JSON scenario (queues, agents, distributions, shifts)."
    ),
    target_service_level: float = typer.Option(
        0.8, "--target-service-level", help="Share within --sla-seconds that Erlang C staffs for."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Simulate a contact center on the real routing engine: service level, ASA, abandonment, occupancy.

    Either one queue (--agents, --arrivals-per-hour, --aht-seconds), shown beside Erlang C, or a --scenario
    file with several queues and skills; --hours, --seed, --sla-seconds and --strategy override the file.
    """
    if agents is not None and agents < 1:
        raise typer.BadParameter(f"must be 1 or more, got {agents}", param_hint="--agents")
    for value, flag in (
        (arrivals_per_hour, "--arrivals-per-hour"),
        (aht_seconds, "--aht-seconds"),
        (hours, "--hours"),
        (patience_seconds, "--patience-seconds"),
    ):
        _positive(value, flag)
    if sla_seconds is not None and not (math.isfinite(sla_seconds) and sla_seconds >= 0):
        raise typer.BadParameter(f"must be 0 or more, got {sla_seconds}", param_hint="--sla-seconds")
    if not 0 < target_service_level < 1:
        raise typer.BadParameter("must be between 0 and 1", param_hint="--target-service-level")
    if strategy is not None and strategy not in {s.value for s in Strategy}:
        raise typer.BadParameter(
            f"unknown strategy {strategy!r}; one of {STRATEGIES}", param_hint="--strategy"
        )

    if scenario_file is not None:
        if agents is not None or arrivals_per_hour is not None or aht_seconds is not None:
            raise typer.BadParameter(
                "give either --scenario or --agents/--arrivals-per-hour/--aht-seconds",
                param_hint="--scenario",
            )
        try:
            scenario = _override(
                load_scenario(scenario_file), hours=hours, seed=seed, sla=sla_seconds, strategy=strategy
            )
        except ValidationFailed as error:
            errors.print(f"[red]error:[/red] {escape(error.detail)}", highlight=False)
            raise typer.Exit(2) from None
        if patience_seconds is not None:
            raise typer.BadParameter(
                "set patience per queue in the scenario file", param_hint="--patience-seconds"
            )
        erlang_figures = None
    else:
        missing = [
            flag
            for flag, value in (
                ("--agents", agents),
                ("--arrivals-per-hour", arrivals_per_hour),
                ("--aht-seconds", aht_seconds),
            )
            if value is None
        ]
        if missing:
            errors.print(f"error: give {', '.join(missing)} (or a --scenario file)", highlight=False)
            raise typer.Exit(2)
        scenario = single_skill(
            agents=agents,
            arrivals_per_hour=arrivals_per_hour,
            aht_seconds=aht_seconds,
            sla_seconds=20.0 if sla_seconds is None else sla_seconds,
            hours=200.0 if hours is None else hours,
            seed=1 if seed is None else seed,
            patience_seconds=patience_seconds,
            strategy=strategy or Strategy.SKILLS.value,
        )
        erlang_figures = _erlang(scenario, agents, arrivals_per_hour, aht_seconds, target_service_level)

    result = simulate(scenario)
    if as_json:
        document: dict[str, Any] = {
            "service_level": result.service_level,
            "asa_seconds": result.asa_seconds,
            "abandonment_rate": result.abandonment_rate,
            "occupancy": result.occupancy,
            "contacts": result.contacts,
            "answered": result.answered,
            "abandoned": result.abandoned,
            "queues": {
                queue_id: {
                    "service_level": queue.service_level,
                    "asa_seconds": queue.asa_seconds,
                    "abandonment_rate": queue.abandonment_rate,
                    "contacts": queue.contacts,
                }
                for queue_id, queue in result.queues.items()
            },
        }
        if erlang_figures is not None:
            document["erlang_c"] = erlang_figures
        typer.echo(orjson.dumps(document).decode())
        return
    console.print(_table(scenario, result, erlang_figures))
    if erlang_figures is not None:
        console.print(
            f"Erlang C: {erlang_figures['agents_needed']} agents answer {target_service_level:.0%} within "
            f"{scenario.sla_seconds:g} s ({erlang_figures['traffic_erlangs']:.2f} erlangs of traffic)."
        )


def _override(
    scenario: Scenario, *, hours: float | None, seed: int | None, sla: float | None, strategy: str | None
) -> Scenario:
    from dataclasses import replace

    queues = scenario.queues
    if strategy is not None:
        queues = tuple(replace(q, queue=replace(q.queue, strategy=strategy)) for q in queues)
    return replace(
        scenario,
        queues=queues,
        hours=scenario.hours if hours is None else hours,
        seed=scenario.seed if seed is None else seed,
        sla_seconds=scenario.sla_seconds if sla is None else sla,
    )


def _erlang(
    scenario: Scenario, agents: int, arrivals_per_hour: float, aht_seconds: float, target: float
) -> dict[str, Any]:
    traffic = erlang.traffic_erlangs(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds)
    asa = erlang.average_speed_of_answer(agents, traffic, aht_seconds=aht_seconds)
    return {
        "traffic_erlangs": traffic,
        "service_level": erlang.service_level(
            agents, traffic, aht_seconds=aht_seconds, target_seconds=scenario.sla_seconds
        ),
        "asa_seconds": asa if math.isfinite(asa) else None,
        "occupancy": erlang.occupancy(agents, traffic),
        "probability_of_waiting": erlang.probability_of_waiting(agents, traffic),
        "agents_needed": erlang.agents_needed(
            traffic, aht_seconds=aht_seconds, target_seconds=scenario.sla_seconds, target_service_level=target
        ),
    }


def _table(scenario: Scenario, result: SimulationResult, erlang_figures: dict[str, Any] | None) -> Table:
    table = Table(title=f"{scenario.hours:g} simulated hours, {result.contacts:,} contacts")
    table.add_column("")
    table.add_column("simulated", justify="right")
    if erlang_figures is not None:
        table.add_column("Erlang C", justify="right")
    asa = erlang_figures["asa_seconds"] if erlang_figures else None

    def row(name: str, simulated: str, formula: str = "") -> None:
        table.add_row(name, simulated, *([formula] if erlang_figures is not None else []))

    row(
        f"service level ({scenario.sla_seconds:g} s)",
        f"{result.service_level:.1%}",
        f"{erlang_figures['service_level']:.1%}" if erlang_figures else "",
    )
    row("ASA", f"{result.asa_seconds:.1f} s", "∞" if erlang_figures and asa is None else f"{asa or 0:.1f} s")
    row("abandoned", f"{result.abandonment_rate:.1%}", "0.0%")
    row(
        "occupancy", f"{result.occupancy:.1%}", f"{erlang_figures['occupancy']:.1%}" if erlang_figures else ""
    )
    if len(result.queues) > 1:
        table.add_section()
        for queue_id, queue in result.queues.items():
            row(
                f"{queue_id}: service level, ASA",
                f"{queue.service_level:.1%}, {queue.asa_seconds:.1f} s",
            )
    return table
