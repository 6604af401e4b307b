"""The benchmark harness: wrk output parsing, result files, the runner's CLI and the ceiling app."""

from __future__ import annotations

import http.server
import json
import shutil
import sys
import threading
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import ceiling, harness, run  # noqa: E402

# Captured from `wrk --latency` runs on loopback: a fast echo server on one connection (microseconds), the
# ceiling app at 64 connections (milliseconds), a server sleeping 1.2 s per request (seconds), one answering
# every third request with 500, and the slow one again under `--timeout 1s` (every request timed out).
WRK_MICROSECONDS = """\
Running 2s test @ http://127.0.0.1:18081/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   130.11us  131.34us   3.25ms   98.44%
    Req/Sec     7.82k     1.19k   10.55k    75.00%
  Latency Distribution
     50%  119.00us
     75%  138.00us
     90%  160.00us
     99%  377.00us
  15560 requests in 2.00s, 607.81KB read
Requests/sec:   7778.85
Transfer/sec:    303.86KB
"""

WRK_MILLISECONDS = """\
Running 2s test @ http://127.0.0.1:38313/v1/conversations/01J0CEILING0000000000000000/messages
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.45ms    1.14ms  17.10ms   87.37%
    Req/Sec    14.43k     2.27k   17.12k    60.00%
  Latency Distribution
     50%    4.12ms
     75%    4.48ms
     90%    5.92ms
     99%    8.76ms
  28731 requests in 2.00s, 5.10MB read
Requests/sec:  14337.05
Transfer/sec:      2.54MB
"""

WRK_SECONDS = """\
Running 4s test @ http://127.0.0.1:18084/
  2 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20s     1.18ms   1.20s    56.67%
    Req/Sec     7.67      0.52     8.00     66.67%
  Latency Distribution
     50%    1.20s
     75%    1.20s
     90%    1.20s
     99%    1.20s
  60 requests in 4.01s, 2.34KB read
Requests/sec:     14.97
Transfer/sec:     598.73B
"""

WRK_NON_2XX = """\
Running 2s test @ http://127.0.0.1:18082/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   109.86us  119.91us   2.85ms   98.80%
    Req/Sec    18.55k     1.86k   20.38k    85.71%
  Latency Distribution
     50%   96.00us
     75%  116.00us
     90%  140.00us
     99%  249.00us
  77520 requests in 2.10s, 3.43MB read
  Non-2xx or 3xx responses: 25840
Requests/sec:  36913.57
Transfer/sec:      1.63MB
"""

WRK_TIMEOUTS = """\
Running 4s test @ http://127.0.0.1:18083/
  2 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     7.67      0.52     8.00     66.67%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  60 requests in 4.01s, 2.34KB read
  Socket errors: connect 0, read 0, write 0, timeout 60
Requests/sec:     14.97
Transfer/sec:     598.82B
"""


def test_parses_microsecond_latencies_as_milliseconds() -> None:
    result = harness.parse_wrk_output(WRK_MICROSECONDS)

    assert result.requests_per_sec == 7778.85
    assert result.total_requests == 15560
    assert result.duration_s == 2.0
    assert result.latency_p50_ms == pytest.approx(0.119)
    assert result.latency_p75_ms == pytest.approx(0.138)
    assert result.latency_p90_ms == pytest.approx(0.160)
    assert result.latency_p99_ms == pytest.approx(0.377)
    assert result.latency_avg_ms == pytest.approx(0.13011)
    assert result.latency_max_ms == pytest.approx(3.25)
    assert result.non_2xx_3xx == 0
    assert result.socket_errors == 0


def test_parses_millisecond_latencies() -> None:
    result = harness.parse_wrk_output(WRK_MILLISECONDS)

    assert result.requests_per_sec == 14337.05
    assert result.total_requests == 28731
    percentiles = (result.latency_p50_ms, result.latency_p75_ms, result.latency_p90_ms, result.latency_p99_ms)
    assert percentiles == pytest.approx((4.12, 4.48, 5.92, 8.76))
    assert result.latency_max_ms == pytest.approx(17.10)


def test_parses_second_latencies_as_milliseconds() -> None:
    result = harness.parse_wrk_output(WRK_SECONDS)

    assert result.requests_per_sec == 14.97
    assert result.total_requests == 60
    assert result.duration_s == pytest.approx(4.01)
    assert result.latency_p50_ms == pytest.approx(1200.0)
    assert result.latency_p99_ms == pytest.approx(1200.0)
    assert result.latency_avg_ms == pytest.approx(1200.0)


def test_parses_percentiles_followed_by_trailing_spaces() -> None:
    # wrk pads second-unit values with a space: "     99%    1.20s ".
    padded = WRK_SECONDS.replace("1.20s\n", "1.20s \n")

    assert harness.parse_wrk_output(padded).latency_p99_ms == pytest.approx(1200.0)


def test_counts_non_2xx_3xx_responses() -> None:
    result = harness.parse_wrk_output(WRK_NON_2XX)

    assert result.non_2xx_3xx == 25840
    assert result.total_requests == 77520
    assert result.duration_s == pytest.approx(2.10)
    assert result.socket_errors == 0


def test_counts_socket_errors_by_kind() -> None:
    result = harness.parse_wrk_output(WRK_TIMEOUTS)

    assert result.socket_errors_timeout == 60
    assert (result.socket_errors_connect, result.socket_errors_read, result.socket_errors_write) == (0, 0, 0)
    assert result.socket_errors == 60
    assert result.latency_p99_ms == 0.0


def test_rejects_text_that_is_not_wrk_output() -> None:
    with pytest.raises(ValueError, match="not wrk output"):
        harness.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_rejects_wrk_output_without_latency_distribution() -> None:
    without = "\n".join(line for line in WRK_MILLISECONDS.splitlines() if "%  " not in line)

    with pytest.raises(ValueError, match="--latency"):
        harness.parse_wrk_output(without)


def test_lua_script_escapes_body_and_numbers_requests_in_sequence() -> None:
    script = harness.wrk_script(
        method="POST",
        body=b'{"text": "caf\xc3\xa9 \\ ok", "client_id": "c-{n}"}',
        headers={"Content-Type": "application/json"},
        threads=4,
        lua_body_sequence=True,
    )

    assert 'wrk.method = "POST"' in script
    assert 'wrk.headers["Content-Type"] = "application/json"' in script
    assert r'"{\034text\034: \034caf\195\169 \092 ok\034, \034client_id\034: \034c-{n}\034}"' in script
    assert "string.gsub(template, '{n}'" in script
    assert "local nthreads = 4" in script


def test_static_lua_script_defines_no_request_function() -> None:
    script = harness.wrk_script(method="GET")

    assert "function request" not in script


def test_write_result_writes_name_machine_figures_and_ceiling(tmp_path: Path) -> None:
    path = harness.write_result(
        "pipeline",
        {"throughput": (5012.5, "req/s"), "latency_p99": (33.1, "ms")},
        ceiling={"throughput": (9200.0, "req/s")},
        notes={"workers": 2},
        results_dir=tmp_path,
    )

    assert path == tmp_path / "pipeline.json"
    document = json.loads(path.read_text())
    assert set(document) == {"name", "machine", "figures", "ceiling", "notes"}
    assert document["name"] == "pipeline"
    assert {"cores", "python", "cpu_model", "platform"} <= set(document["machine"])
    assert document["figures"] == {
        "throughput": {"value": 5012.5, "unit": "req/s"},
        "latency_p99": {"value": 33.1, "unit": "ms"},
    }
    assert document["ceiling"] == {"throughput": {"value": 9200.0, "unit": "req/s"}}
    assert document["notes"] == {"workers": 2}


def test_write_result_omits_ceiling_and_notes_when_not_given(tmp_path: Path) -> None:
    path = harness.write_result("ceiling", {"throughput": (9000.0, "req/s")}, results_dir=tmp_path)

    assert set(json.loads(path.read_text())) == {"name", "machine", "figures"}


def test_write_result_prints_a_table_marking_ceiling_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.write_result(
        "pipeline",
        {"throughput": (5000.0, "req/s")},
        ceiling={"throughput": (9200.0, "req/s")},
        results_dir=tmp_path,
    )

    printed = capsys.readouterr().out
    assert "5,000" in printed
    assert "throughput (ceiling)" in printed
    assert "9,200" in printed


def test_bench_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(harness.DURATION_ENV, raising=False)
    monkeypatch.delenv(harness.CONNECTIONS_ENV, raising=False)
    assert (harness.bench_duration(), harness.bench_connections()) == (10, 64)

    monkeypatch.setenv(harness.DURATION_ENV, "3")
    monkeypatch.setenv(harness.CONNECTIONS_ENV, "128")
    assert (harness.bench_duration(), harness.bench_connections()) == (3, 128)

    monkeypatch.setenv(harness.DURATION_ENV, "ten")
    with pytest.raises(ValueError, match=harness.DURATION_ENV):
        harness.bench_duration()


def test_runner_rejects_an_unknown_benchmark_listing_the_available_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run.main(["--only", "no-such-benchmark"]) == 2

    error = capsys.readouterr().err
    assert "no-such-benchmark" in error
    assert "ceiling" in error


def test_runner_discovers_bench_modules_by_name() -> None:
    assert {"ceiling", "routing", "routing_e2e", "simulation"} <= set(run.available_benchmarks())


def test_server_process_reports_the_output_of_a_server_that_dies() -> None:
    command = [sys.executable, "-c", "import sys; sys.stderr.write('port already in use'); sys.exit(3)"]
    server = harness.ServerProcess(command, ready_url=f"http://127.0.0.1:{harness.free_port()}/")

    with pytest.raises(RuntimeError, match=r"(?s)exited with 3.*port already in use"), server:
        pass


async def test_ceiling_accepts_a_message_with_202() -> None:
    transport = httpx.ASGITransport(app=ceiling.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ceiling") as client:
        body = ceiling.MESSAGE_BODY.replace(b"{n}", b"1")
        accepted = await client.post("/v1/conversations/c1/messages", content=body)
        rejected = await client.post("/v1/conversations/c1/messages", content=b"not json")

    assert accepted.status_code == 202
    assert accepted.json()["status"] == "accepted"
    assert len(accepted.json()["id"]) == 26
    assert rejected.status_code == 400


@pytest.mark.timeout(60)
def test_ceiling_serves_load_from_wrk_without_errors() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk not installed: apt-get install wrk")

    result = ceiling.measure_ceiling(2, 8)

    assert result.total_requests > 0
    assert result.requests_per_sec > 0
    assert result.non_2xx_3xx == 0
    assert result.socket_errors == 0


def test_lua_script_walks_a_path_sequence_across_threads() -> None:
    script = harness.wrk_script(
        headers={"Authorization": "Bearer k"}, threads=2, path_sequence=["/a?x=%2B1", '/b?q="x"']
    )

    assert 'wrk.headers["Authorization"] = "Bearer k"' in script
    assert '"/a?x=%2B1",' in script
    assert r'"/b?q=\034x\034",' in script
    assert "local npaths = #paths" in script
    assert "wrk.format(nil, paths[(n % npaths) + 1], nil, payload)" in script
    with pytest.raises(ValueError, match="at least one path"):
        harness.wrk_script(path_sequence=[])


@pytest.mark.timeout(60)
def test_wrk_requests_every_path_of_the_sequence() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk not installed: apt-get install wrk")
    seen: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.add(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        paths = [f"/lookup?value=%2B1415555{n:04d}" for n in range(5)]
        result = harness.run_wrk(
            f"http://127.0.0.1:{server.server_address[1]}/",
            duration_s=1,
            connections=2,
            threads=2,
            path_sequence=paths,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert result.non_2xx_3xx == 0
    assert seen == set(paths)


@pytest.mark.timeout(60)
def test_wrk_sends_each_request_of_a_request_file_with_its_own_headers_and_body(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk not installed: apt-get install wrk")
    seen: set[tuple[str, str, str]] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            seen.add((self.headers["X-Signature"], self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    requests = [
        ({"X-Signature": f"sig+{n}="}, f"MessageSid=SM{n}&Body=hi%20there".encode()) for n in range(4)
    ]
    request_file = tmp_path / "requests.tsv"
    harness.write_request_file(request_file, requests, ["X-Signature"])
    with pytest.raises(ValueError, match="tabs"):
        harness.write_request_file(tmp_path / "bad.tsv", [({"X-Signature": "a\tb"}, b"")], ["X-Signature"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = harness.run_wrk(
            f"http://127.0.0.1:{server.server_address[1]}/hook",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            duration_s=1,
            connections=2,
            threads=2,
            request_file=request_file,
            request_header_names=["X-Signature"],
        )
    finally:
        server.shutdown()
        server.server_close()

    assert result.non_2xx_3xx == 0
    assert seen == {
        (f"sig+{n}=", "application/x-www-form-urlencoded", f"MessageSid=SM{n}&Body=hi%20there")
        for n in range(4)
    }
