"""The staffing simulator: wall time for 2,000 simulated hours of one queue on the real routing engine.

11 agents, 180 arrivals an hour, exponential handle times of 180 s on average (9 erlangs, about 360,000
contacts), no abandonment: the Erlang C case, so the result also reports the formula's service level within
20 s beside the simulated one. `CXSTACK_BENCH_SIMULATION_HOURS` changes the hours (default 2,000).
Target: under 30 s.
"""

from __future__ import annotations

import os
import time

from benchmarks.harness import write_result
from cxstack.routing import erlang
from cxstack.routing.simulation import simulate, single_skill

NAME = "simulation"
HOURS_ENV = "CXSTACK_BENCH_SIMULATION_HOURS"
AGENTS = 11
ARRIVALS_PER_HOUR = 180.0
AHT_SECONDS = 180.0
SLA_SECONDS = 20.0


def main() -> None:
    hours = float(os.environ.get(HOURS_ENV, "2000"))
    scenario = single_skill(
        agents=AGENTS,
        arrivals_per_hour=ARRIVALS_PER_HOUR,
        aht_seconds=AHT_SECONDS,
        sla_seconds=SLA_SECONDS,
        hours=hours,
        seed=1,
    )
    started = time.perf_counter()
    cpu_started = time.process_time()
    result = simulate(scenario)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    traffic = erlang.traffic_erlangs(arrivals_per_hour=ARRIVALS_PER_HOUR, aht_seconds=AHT_SECONDS)
    write_result(
        NAME,
        {
            "wall": (wall, "s"),
            "cpu": (cpu, "s"),
            "contacts": (float(result.contacts), "contacts"),
            "contacts_per_second": (result.contacts / wall, "contacts/s"),
            "service_level": (result.service_level, "share"),
            "erlang_c_service_level": (
                erlang.service_level(AGENTS, traffic, aht_seconds=AHT_SECONDS, target_seconds=SLA_SECONDS),
                "share",
            ),
            "asa": (result.asa_seconds, "s"),
            "erlang_c_asa": (erlang.average_speed_of_answer(AGENTS, traffic, aht_seconds=AHT_SECONDS), "s"),
            "occupancy": (result.occupancy, "share"),
        },
        notes={
            "hours": hours,
            "agents": AGENTS,
            "arrivals_per_hour": ARRIVALS_PER_HOUR,
            "target": "wall < 30 s",
        },
    )


if __name__ == "__main__":
    main()
