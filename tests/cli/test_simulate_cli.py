"""``cxstack simulate``: the staffing simulator from the command line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from cxstack.cli.main import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_skills.toml"
SMALL = [
    "--agents",
    "11",
    "--arrivals-per-hour",
    "180",
    "--aht-seconds",
    "180",
    "--hours",
    "20",
    "--seed",
    "1",
]


def test_json_is_one_object_with_the_four_figures_and_erlang_c() -> None:
    result = runner.invoke(app, ["simulate", *SMALL, "--sla-seconds", "20", "--json"])
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    for key in ("service_level", "asa_seconds", "abandonment_rate", "occupancy"):
        assert isinstance(document[key], float)
    assert 0.4 < document["service_level"] < 0.9
    assert document["abandonment_rate"] == 0.0
    assert document["erlang_c"]["agents_needed"] == 12
    assert document["erlang_c"]["service_level"] == pytest.approx(0.6553, abs=1e-4)


def test_the_table_shows_simulated_beside_erlang_c_and_the_staffing_answer() -> None:
    result = runner.invoke(
        app, ["simulate", *SMALL, "--patience-seconds", "60", "--strategy", "longest_idle"]
    )
    assert result.exit_code == 0, result.output
    assert "service level (20 s)" in result.output
    assert "Erlang C" in result.output
    assert "Erlang C: 12 agents answer 80% within 20 s (9.00 erlangs of traffic)." in result.output


def test_a_scenario_file_with_the_strategy_overridden() -> None:
    result = runner.invoke(
        app, ["simulate", "--scenario", str(EXAMPLE), "--hours", "5", "--strategy", "round_robin", "--json"]
    )
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert set(document["queues"]) == {"billing", "tech"}
    assert "erlang_c" not in document


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--agents", "0", "--arrivals-per-hour", "10", "--aht-seconds", "60"], "--agents"),
        (["--agents", "2", "--arrivals-per-hour", "-1", "--aht-seconds", "60"], "--arrivals-per-hour"),
        (
            ["--agents", "2", "--arrivals-per-hour", "10", "--aht-seconds", "60", "--strategy", "fast"],
            "--strategy",
        ),
        (["--agents", "2", "--arrivals-per-hour", "10", "--aht-seconds", "60", "--hours", "0"], "--hours"),
        (["--agents", "two", "--arrivals-per-hour", "10", "--aht-seconds", "60"], "--agents"),
        (["--agents", "2", "--arrivals-per-hour", "10"], "--aht-seconds"),
        (["--scenario", str(EXAMPLE), "--agents", "3"], "--scenario"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(arguments: list[str], named: str) -> None:
    result = runner.invoke(app, ["simulate", *arguments])
    assert result.exit_code == 2
    assert named in result.output


def test_a_bad_scenario_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[queues]]\nid = "q"\narrivals_per_hour = 10\nhandle_seconds = 60\nstrategy = "fastest"\n'
        "[[agents]]\ncount = 1\n"
    )
    result = runner.invoke(app, ["simulate", "--scenario", str(path)])
    assert result.exit_code == 2
    assert "queues[0]" in result.output and "strategy" in result.output
