"""Measure the HTTP ceiling alone: bare Starlette intake route, no database."""

from __future__ import annotations

from benchmarks.ceiling import measure_ceiling
from benchmarks.harness import bench_connections, bench_duration, write_result


def main() -> None:
    """Load the ceiling app and write `results/ceiling.json`; raises RuntimeError on error responses."""
    duration_s, connections = bench_duration(), bench_connections()
    result = measure_ceiling(duration_s, connections)
    if result.non_2xx_3xx:
        raise RuntimeError(f"ceiling answered {result.non_2xx_3xx} requests with errors:\n{result.output}")
    write_result(
        "ceiling",
        {
            "throughput": (result.requests_per_sec, "req/s"),
            "latency_p50": (result.latency_p50_ms, "ms"),
            "latency_p99": (result.latency_p99_ms, "ms"),
        },
        notes={"duration_s": duration_s, "connections": connections, "wrk": result.summary()},
    )
