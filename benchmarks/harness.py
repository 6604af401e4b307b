"""Load-testing harness: run servers, drive them with wrk, record results as JSON and a table."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from rich.console import Console
from rich.table import Table

BENCHMARKS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"

DURATION_ENV = "CXSTACK_BENCH_DURATION"
CONNECTIONS_ENV = "CXSTACK_BENCH_CONNECTIONS"
DEFAULT_DURATION_S = 10
DEFAULT_CONNECTIONS = 64

Figures = Mapping[str, tuple[float, str]]


# --- configuration -----------------------------------------------------------------------------------


def _positive_int_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def bench_duration() -> int:
    """Seconds each load run lasts: `CXSTACK_BENCH_DURATION`, default 10; raises ValueError if invalid."""
    return _positive_int_from_env(DURATION_ENV, DEFAULT_DURATION_S)


def bench_connections() -> int:
    """Concurrent connections per load run: `CXSTACK_BENCH_CONNECTIONS`, default 64."""
    return _positive_int_from_env(CONNECTIONS_ENV, DEFAULT_CONNECTIONS)


# --- machine and results ----------------------------------------------------------------------------


def _cpu_model() -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in {"model name", "Hardware", "cpu model"}:
            return value.strip()
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    """Describe the machine a result was measured on: cores, python, cpu_model, platform."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
    }


def _figures_json(figures: Figures) -> dict[str, dict[str, float | str]]:
    return {metric: {"value": float(value), "unit": unit} for metric, (value, unit) in figures.items()}


def _format_value(value: float) -> str:
    if value == 0 or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def results_table(
    name: str, figures: Figures, ceiling: Figures | None = None, machine: Mapping[str, Any] | None = None
) -> Table:
    """Build the rich table for a result; ceiling rows are marked `(ceiling)` and dimmed."""
    table = Table(title=f"benchmark: {name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for metric, (value, unit) in figures.items():
        table.add_row(metric, _format_value(value), unit)
    if ceiling:
        table.add_section()
        for metric, (value, unit) in ceiling.items():
            table.add_row(f"{metric} (ceiling)", _format_value(value), unit, style="dim")
    if machine:
        table.caption = (
            f"{machine.get('cores')} cores, {machine.get('cpu_model') or 'unknown cpu'}, "
            f"Python {machine.get('python')}"
        )
    return table


def write_result(
    name: str,
    figures: Figures,
    ceiling: Figures | None = None,
    notes: Mapping[str, Any] | None = None,
    *,
    results_dir: Path | None = None,
    console: Console | None = None,
) -> Path:
    """Write `<name>.json` to `results_dir` (default `benchmarks/results/`), print a table, return the path.

    The JSON is `{"name", "machine", "figures", ["ceiling"], ["notes"]}`, each figure `{"value", "unit"}`.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"benchmark name must be a plain file name, got {name!r}")
    machine = machine_info()
    document: dict[str, Any] = {"name": name, "machine": machine, "figures": _figures_json(figures)}
    if ceiling is not None:
        document["ceiling"] = _figures_json(ceiling)
    if notes is not None:
        document["notes"] = dict(notes)

    directory = RESULTS_DIR if results_dir is None else results_dir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")

    (console or Console()).print(results_table(name, figures, ceiling, machine))
    return path


# --- wrk -------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """Return the `wrk` binary's path, installing it with apt-get as root on Debian; else RuntimeError."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and Path("/etc/debian_version").exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "wrk"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
            subprocess.run(install, env=env, capture_output=True, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise RuntimeError(
        "wrk is not installed and could not be installed automatically; install it with "
        "`apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS) and run again"
    )


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured; latencies in milliseconds."""

    requests_per_sec: float
    total_requests: int
    duration_s: float
    non_2xx_3xx: int
    socket_errors_connect: int
    socket_errors_read: int
    socket_errors_write: int
    socket_errors_timeout: int
    latency_p50_ms: float
    latency_p75_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_avg_ms: float
    latency_max_ms: float
    output: str = field(default="", repr=False, compare=False)

    @property
    def socket_errors(self) -> int:
        """All socket errors: connect, read, write and timeout."""
        return (
            self.socket_errors_connect
            + self.socket_errors_read
            + self.socket_errors_write
            + self.socket_errors_timeout
        )

    def summary(self) -> dict[str, float | int]:
        """The run's figures as a flat JSON-ready dict, for a result's notes."""
        return {
            "requests_per_sec": self.requests_per_sec,
            "total_requests": self.total_requests,
            "duration_s": self.duration_s,
            "non_2xx_3xx": self.non_2xx_3xx,
            "socket_errors": self.socket_errors,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p75_ms": self.latency_p75_ms,
            "latency_p90_ms": self.latency_p90_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "latency_max_ms": self.latency_max_ms,
        }


_TIME_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"
_DURATION_TO_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _ms(number: str, unit: str) -> float:
    return float(number) * _TIME_TO_MS[unit]


def parse_wrk_output(text: str) -> WrkResult:
    """Parse the stdout of `wrk --latency`; raises ValueError when it holds no summary."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in " + _TIME, text, re.MULTILINE)
    if rps is None or total is None:
        raise ValueError("not wrk output: no 'Requests/sec' or 'N requests in' line\n" + text[-2000:])

    percentiles: dict[str, float] = {}
    for pct, number, unit in re.findall(r"^\s+(50|75|90|99)%\s+" + _TIME, text, re.MULTILINE):
        percentiles[pct] = _ms(number, unit)
    missing = {"50", "75", "90", "99"} - percentiles.keys()
    if missing:
        raise ValueError(f"wrk output has no latency distribution for {sorted(missing)}; run with --latency")

    avg_ms = max_ms = 0.0
    stats = re.search(r"^\s+Latency\s+" + _TIME + r"\s+\S+\s+" + _TIME, text, re.MULTILINE)
    if stats is not None:
        avg_ms = _ms(stats.group(1), stats.group(2))
        max_ms = _ms(stats.group(3), stats.group(4))

    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text, re.MULTILINE
    )
    connect, read, write, timeout = (int(g) for g in socket.groups()) if socket else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)

    return WrkResult(
        requests_per_sec=float(rps.group(1)),
        total_requests=int(total.group(1)),
        duration_s=float(total.group(2)) * _DURATION_TO_S[total.group(3)],
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors_connect=connect,
        socket_errors_read=read,
        socket_errors_write=write,
        socket_errors_timeout=timeout,
        latency_p50_ms=percentiles["50"],
        latency_p75_ms=percentiles["75"],
        latency_p90_ms=percentiles["90"],
        latency_p99_ms=percentiles["99"],
        latency_avg_ms=avg_ms,
        latency_max_ms=max_ms,
        output=text,
    )


def lua_string(data: bytes) -> str:
    """Quote bytes as a Lua string literal, escaping everything but printable ASCII."""
    parts = []
    for byte in data:
        if 0x20 <= byte < 0x7F and byte not in (ord('"'), ord("\\")):
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03d}")
    return '"' + "".join(parts) + '"'


def wrk_script(
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    threads: int = 1,
    lua_body_sequence: bool = False,
    path_sequence: Sequence[str] | None = None,
    request_file: str | None = None,
    request_header_names: Sequence[str] = (),
) -> str:
    """Generate the wrk Lua script for a request.

    With `lua_body_sequence`, every literal `{n}` in the body becomes a counter that is distinct for every
    request of the run across all wrk threads. With `path_sequence`, request n goes to path
    `path_sequence[n % len(path_sequence)]` (paths with their query strings, already URL-encoded), so the
    threads between them walk the list in order.

    With `request_file` (see `write_request_file`), request n sends line `n % lines` of the file: its
    body, and its values of the headers `request_header_names` on top of the fixed `headers`.
    """
    lines = [f"wrk.method = {lua_string(method.encode())}"]
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    if lua_body_sequence and body is None:
        raise ValueError("lua_body_sequence needs a body template containing {n}")
    if path_sequence is not None and not path_sequence:
        raise ValueError("path_sequence needs at least one path")
    if request_file is not None:
        if lua_body_sequence or path_sequence is not None or body is not None:
            raise ValueError(
                "request_file replaces the body: leave out body, lua_body_sequence, path_sequence"
            )
        return "\n".join(lines + _request_file_lua(request_file, request_header_names, threads)) + "\n"
    if not lua_body_sequence and path_sequence is None:
        return "\n".join(lines) + "\n"
    if lua_body_sequence:
        lines.append(f"local template = {lua_string(body or b'')}")
    if path_sequence is not None:
        lines.append("local paths = {")
        lines += [f"  {lua_string(path.encode())}," for path in path_sequence]
        lines += ["}", "local npaths = #paths"]
    payload = "string.gsub(template, '{n}', string.format('%d', n))" if lua_body_sequence else "nil"
    path = "paths[(n % npaths) + 1]" if path_sequence is not None else "nil"
    lines += [
        f"local nthreads = {threads}",
        "local next_thread = 0",
        "function setup(thread)",
        "  thread:set('thread_index', next_thread)",
        "  next_thread = next_thread + 1",
        "end",
        "local sent = 0",
        "function request()",
        "  local n = sent * nthreads + (thread_index or 0)",
        "  sent = sent + 1",
        f"  local payload = {payload}",
        f"  return wrk.format(nil, {path}, nil, payload)",
        "end",
    ]
    return "\n".join(lines) + "\n"


def _request_file_lua(path: str, header_names: Sequence[str], threads: int) -> list[str]:
    names = ", ".join(lua_string(name.encode()) for name in header_names)
    return [
        f"local names = {{{names}}}",
        "local requests = {}",
        "function init(args)",
        f"  local file = assert(io.open({lua_string(path.encode())}, 'rb'))",
        "  for line in file:lines() do",
        "    local fields = {}",
        "    for value in string.gmatch(line .. '\\t', '([^\\t]*)\\t') do fields[#fields + 1] = value end",
        "    requests[#requests + 1] = fields",
        "  end",
        "  file:close()",
        "end",
        f"local nthreads = {threads}",
        "local next_thread = 0",
        "function setup(thread)",
        "  thread:set('thread_index', next_thread)",
        "  next_thread = next_thread + 1",
        "end",
        "local sent = 0",
        "function request()",
        "  local n = sent * nthreads + (thread_index or 0)",
        "  sent = sent + 1",
        "  local fields = requests[(n % #requests) + 1]",
        "  local headers = {}",
        "  for name, value in pairs(wrk.headers) do headers[name] = value end",
        "  for i, name in ipairs(names) do headers[name] = fields[i] end",
        "  return wrk.format(nil, nil, headers, fields[#names + 1])",
        "end",
    ]


def write_request_file(
    path: Path, requests: Sequence[tuple[Mapping[str, str], bytes]], header_names: Sequence[str]
) -> None:
    """Write `requests` (per-request header values and body) as `run_wrk`'s `request_file`: one line each,
    the values of `header_names` then the body, tab-separated; raises ValueError for a tab or newline."""
    with path.open("wb") as handle:
        for headers, body in requests:
            fields = [headers[name].encode() for name in header_names] + [body]
            if any(b"\t" in field or b"\n" in field or b"\r" in field for field in fields):
                raise ValueError("request file fields cannot hold tabs or line breaks")
            handle.write(b"\t".join(fields) + b"\n")


def run_wrk(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    duration_s: int = 10,
    connections: int = 64,
    threads: int = 1,
    lua_body_sequence: bool = False,
    path_sequence: Sequence[str] | None = None,
    request_file: Path | None = None,
    request_header_names: Sequence[str] = (),
) -> WrkResult:
    """Load `url` with wrk for `duration_s` and return the parsed result; raises RuntimeError if wrk fails.

    `path_sequence` (see `wrk_script`) replaces the path of `url` request by request; `request_file`
    (written by `write_request_file`) gives every request its own body and `request_header_names` values.
    """
    if connections < threads:
        raise ValueError(f"wrk needs at least one connection per thread ({connections=} < {threads=})")
    if lua_body_sequence and (body is None or b"{n}" not in body):
        raise ValueError("lua_body_sequence needs a body template containing {n}")
    wrk = ensure_wrk()
    script = wrk_script(
        method=method,
        body=body,
        headers=headers,
        threads=threads,
        lua_body_sequence=lua_body_sequence,
        path_sequence=path_sequence,
        request_file=str(request_file) if request_file is not None else None,
        request_header_names=request_header_names,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="cxstack-wrk-", delete=False) as handle:
        handle.write(script)
        script_path = handle.name
    try:
        command = [
            wrk,
            "--latency",
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={duration_s}s",
            f"--script={script_path}",
            url,
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    finally:
        os.unlink(script_path)
    if completed.returncode != 0:
        raise RuntimeError(
            f"wrk exited with {completed.returncode}:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return parse_wrk_output(completed.stdout)


# --- servers ---------------------------------------------------------------------------------------


# --- intake runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeTally:
    """A wrk run against an intake route, set against the writes the database holds after it."""

    #: Requests answered 2xx or 3xx.
    acknowledged: int
    #: New writes the run left in the database.
    written: int
    #: Writes beyond the acknowledged ones: requests still in flight when wrk stopped counting.
    in_flight_at_cutoff: int
    #: Acknowledged requests whose write is missing.
    lost: int
    #: Unacknowledged writes beyond what the connections could have had in flight (counted wrong).
    beyond_in_flight: int
    #: Non-2xx/3xx answers, socket errors, lost and miscounted writes, and the benchmark's own.
    errors: int
    #: Acknowledged requests per second.
    throughput: float


def tally_intake(
    result: WrkResult, *, written: int, connections: int, repeated: int = 0, other_errors: int = 0
) -> IntakeTally:
    """Set a wrk run against the ``written`` new rows it left; ``repeated``: acknowledged requests that
    repeated an earlier one and write nothing new; ``other_errors``: the benchmark's own error count."""
    acknowledged = result.total_requests - result.non_2xx_3xx
    # wrk stops counting at the deadline: requests still in flight then may be stored but not counted.
    unacknowledged_writes = written - (acknowledged - repeated)
    lost = max(0, -unacknowledged_writes)
    beyond_in_flight = max(0, unacknowledged_writes - connections)
    return IntakeTally(
        acknowledged=acknowledged,
        written=written,
        in_flight_at_cutoff=max(0, unacknowledged_writes),
        lost=lost,
        beyond_in_flight=beyond_in_flight,
        errors=result.non_2xx_3xx + result.socket_errors + lost + beyond_in_flight + other_errors,
        throughput=acknowledged / result.duration_s if result.duration_s else 0.0,
    )


def write_intake_result(
    name: str,
    result: WrkResult,
    tally: IntakeTally,
    ceiling: WrkResult,
    *,
    throughput_unit: str,
    duration_s: int,
    connections: int,
    notes: Mapping[str, Any],
    figures: Figures | None = None,
    server_log: str = "",
    written_noun: str = "writes",
) -> Path:
    """Write an intake benchmark's result (see `write_result`): throughput, latency p50 and p99, errors,
    the benchmark's own `figures`, and the throughput's ratio to the ceiling's; the notes hold the run's
    settings, `notes`, both wrk summaries, and the server's log tail when there were errors. Prints an
    error to stderr when acknowledged requests' writes are missing or miscounted."""
    path = write_result(
        name,
        {
            "throughput": (tally.throughput, throughput_unit),
            "latency_p50": (result.latency_p50_ms, "ms"),
            "latency_p99": (result.latency_p99_ms, "ms"),
            "errors": (tally.errors, "count"),
            **(figures or {}),
            "throughput_ratio_to_ceiling": (
                tally.throughput / ceiling.requests_per_sec if ceiling.requests_per_sec else 0.0,
                "ratio",
            ),
        },
        ceiling={
            "throughput": (ceiling.requests_per_sec, "req/s"),
            "latency_p50": (ceiling.latency_p50_ms, "ms"),
            "latency_p99": (ceiling.latency_p99_ms, "ms"),
        },
        notes={
            "duration_s": duration_s,
            "connections": connections,
            **notes,
            "wrk": result.summary(),
            "ceiling_wrk": ceiling.summary(),
            **({"server_log_tail": server_log} if tally.errors else {}),
        },
    )
    if tally.lost or tally.beyond_in_flight:
        print(
            f"error: wrk saw {tally.acknowledged} acknowledged requests but {tally.written} new "
            f"{written_noun} were written",
            file=sys.stderr,
        )
    return path


def serve_on_sqlite(workdir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """Return the command and environment that run `cxstack serve` on the SQLite database
    `workdir/cxstack.db` (already migrated) at `port`, logging warnings only."""
    env = {
        "CXSTACK_DATABASE_URL": f"sqlite:///{workdir / 'cxstack.db'}",
        "CXSTACK_PORT": str(port),
        "CXSTACK_DATA_DIR": str(workdir / "data"),
        "CXSTACK_LOG_LEVEL": "warning",
    }
    return [sys.executable, "-m", "cxstack.cli.main", "serve", "--no-migrate"], env


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Loopback readiness checks must not go through an HTTP proxy configured in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


class ServerProcess:
    """Run a server command in its own process group for the length of a `with` block.

    Entering waits until `ready_url` answers with any HTTP status (RuntimeError with the tail of the
    server's output if it exits or stays silent for `start_timeout_s`); leaving sends SIGINT, waits
    `stop_timeout_s`, then SIGKILLs the group. `env` is layered over the current environment.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        ready_url: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self.command = list(command)
        self.ready_url = ready_url
        self.env = {**os.environ, **(env or {})}
        self.cwd = PROJECT_ROOT if cwd is None else cwd
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("server is not running")
        return self._process.pid

    def output_tail(self, max_chars: int = 4000) -> str:
        """The last `max_chars` of what the server wrote to stdout and stderr."""
        if self._log is None:
            return ""
        self._log.flush()
        text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        return text[-max_chars:]

    def __enter__(self) -> Self:
        self._log = tempfile.NamedTemporaryFile(prefix="cxstack-server-", suffix=".log", delete=False)
        self._process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                tail = self.output_tail()
                self._close_log()
                raise RuntimeError(f"server exited with {code} before answering: {self.command}\n{tail}")
            if _answers(self.ready_url):
                return self
            if time.monotonic() > deadline:
                tail = self.output_tail()
                self.stop()
                raise RuntimeError(
                    f"server did not answer {self.ready_url} within {self.start_timeout_s:.0f}s: "
                    f"{self.command}\n{tail}"
                )
            time.sleep(0.1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server's process group: SIGINT, then SIGKILL after `stop_timeout_s`."""
        process = self._process
        if process is not None and process.poll() is None:
            self._signal_group(process, signal.SIGINT)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait()
        if process is not None:
            # Workers the server forked may outlive it in the group.
            self._signal_group(process, signal.SIGKILL)
        self._process = None
        self._close_log()

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None
