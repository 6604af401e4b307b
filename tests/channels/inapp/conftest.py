"""In-app fixtures: the app's settings, signed headers for a user, and a fake push service (the company's
own, which the webhook push provider posts to) served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.channels.webchat.conftest import server, serving

__all__ = ["server"]  # the webchat channel's live server fixture serves the in-app socket too

from cxstack.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"effect_retry_base_seconds": 0.01, "effect_poll_seconds": 0.02})


@dataclass
class FakePushService:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    #: Status codes to answer with, in turn (then 202).
    answers: list[int] = field(default_factory=list)

    def notifications(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.received]


@pytest.fixture
async def push_service() -> AsyncIterator[FakePushService]:
    service = FakePushService(url="")

    async def push(request: Request) -> Response:
        service.received.append((dict(request.headers), await request.body()))
        status = service.answers.pop(0) if service.answers else 202
        return Response(b"{}", status_code=status, media_type="application/json")

    app = Starlette(routes=[Route("/push", push, methods=["POST"])])
    async with serving(app) as base:
        service.url = f"{base}/push"
        yield service


@pytest.fixture
async def app_settings(api: httpx.AsyncClient, push_service: FakePushService) -> dict[str, Any]:
    response = await api.put("/v1/channels/inapp/settings", json={"push_url": push_service.url})
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


def user_headers(settings: dict[str, Any], user_id: str, *, user_hash: str | None = None) -> dict[str, str]:
    signed = hmac.new(settings["identity_secret"].encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return {"X-App-Key": settings["widget_key"], "X-User-Id": user_id, "X-User-Hash": user_hash or signed}


def signature_of(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
