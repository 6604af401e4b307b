"""The HTTP ceiling: the message intake route with no framework layers and no database.

A bare Starlette route that parses the JSON body, builds the `message.received` event and answers 202.
Every real hot path is measured against it. Run it on its own with
`uvicorn benchmarks.ceiling:app --loop uvloop --http httptools --no-access-log --log-level warning`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from ulid import ULID

from benchmarks.harness import ServerProcess, WrkResult, free_port, run_wrk

MESSAGE_BODY = b'{"body": "hello, my card payment failed", "direction": "inbound", "client_id": "c-{n}"}'
CONVERSATION_ID = "01J0CEILING0000000000000000"


def _json(content: object, status_code: int) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


async def receive_message(request: Request) -> Response:
    """Accept a message: 202 with the event id, or 400 when the body is not a JSON object."""
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _json({"error": "invalid_json", "message": "body is not valid JSON"}, 400)
    if not isinstance(payload, dict):
        return _json({"error": "invalid_body", "message": "body must be a JSON object"}, 400)
    event = {
        "id": str(ULID()),
        "type": "message.received",
        "time": datetime.now(UTC).isoformat(),
        "data": {"conversation_id": request.path_params["conversation_id"], **payload},
    }
    return _json({"id": event["id"], "status": "accepted"}, 202)


app = Starlette(
    routes=[Route("/v1/conversations/{conversation_id}/messages", receive_message, methods=["POST"])]
)


def measure_ceiling(duration_s: int, connections: int, *, threads: int = 1) -> WrkResult:
    """Start the ceiling app under uvicorn (uvloop, httptools, no access log) and load it with wrk."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.ceiling:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    base = f"http://127.0.0.1:{port}"
    with ServerProcess(command, ready_url=f"{base}/"):
        return run_wrk(
            f"{base}/v1/conversations/{CONVERSATION_ID}/messages",
            method="POST",
            body=MESSAGE_BODY,
            headers={"Content-Type": "application/json"},
            duration_s=duration_s,
            connections=connections,
            threads=threads,
            lua_body_sequence=True,
        )
