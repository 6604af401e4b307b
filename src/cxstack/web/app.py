"""The FastAPI application: every layer's router under ``/v1``, problem+json errors, OpenAPI, and the
workspace's pages under ``/app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.responses import Response

from cxstack.channels.email.api import hooks as email_hooks_router
from cxstack.channels.email.api import router as email_router
from cxstack.channels.inapp.api import app_api as inapp_app_router
from cxstack.channels.inapp.api import router as inapp_router
from cxstack.channels.inapp.api import sockets as inapp_sockets_router
from cxstack.channels.sms.api import hooks as sms_hooks_router
from cxstack.channels.sms.api import router as sms_router
from cxstack.channels.voice.api import hooks as voice_hooks_router
from cxstack.channels.voice.api import router as voice_router
from cxstack.channels.webchat.api import router as webchat_router
from cxstack.channels.webchat.api import widget as webchat_widget_router
from cxstack.records.accounts.api import router as accounts_router
from cxstack.records.cases.api import router as cases_router
from cxstack.records.conversations.api import router as conversations_router
from cxstack.records.customers.api import router as customers_router
from cxstack.records.files.api import router as files_router
from cxstack.records.merges.api import router as merges_router
from cxstack.records.notes.api import router as notes_router
from cxstack.records.tags.api import router as tags_router
from cxstack.records.timeline.api import router as timeline_router
from cxstack.routing.api import router as routing_router
from cxstack.routing.api import sockets as routing_sockets
from cxstack.routing.sla.api import router as sla_router
from cxstack.runtime import Runtime
from cxstack.web.correlation import CorrelationMiddleware
from cxstack.web.direct import answer_directly
from cxstack.web.docs import install_api_reference
from cxstack.web.edge import guard_routes
from cxstack.web.governance import router as governance_router
from cxstack.web.oidc import router as oidc_router
from cxstack.web.openapi import install_openapi
from cxstack.web.operations import router as operations_router
from cxstack.web.operator import router as operator_router
from cxstack.web.problems import install_problem_handlers
from cxstack.web.sign_in import router as sign_in_router
from cxstack.web.staff import router as staff_router
from cxstack.workspace.api import install_workspace_assets
from cxstack.workspace.api import router as workspace_router
from cxstack.workspace.canned.api import router as canned_router
from cxstack.workspace.mentions.api import router as mentions_router
from cxstack.workspace.views.api import router as views_router

#: In the order requests are matched against them: the busiest first.
ROUTERS = (
    conversations_router,
    files_router,
    sms_hooks_router,
    customers_router,
    timeline_router,
    merges_router,
    operations_router,
    accounts_router,
    cases_router,
    notes_router,
    tags_router,
    sms_router,
    email_router,
    email_hooks_router,
    voice_router,
    voice_hooks_router,
    webchat_router,
    webchat_widget_router,
    inapp_router,
    inapp_app_router,
    inapp_sockets_router,
    governance_router,
    sign_in_router,
    oidc_router,
    staff_router,
    routing_router,
    routing_sockets,
    operator_router,
    sla_router,
    canned_router,
    views_router,
    mentions_router,
    workspace_router,
)


def create_app(
    runtime: Runtime, *, manage_runtime: bool = True, extra_routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """Return the ASGI app; with ``manage_runtime`` it starts and stops the runtime with the server.

    Every route, those of ``extra_routers`` included, gets the edge's checks (``cxstack.web.edge``), its
    errors as problem+json with the request's correlation id, and its place in the OpenAPI document.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            await runtime.services.key_usage.drain()
            if manage_runtime:
                await runtime.stop()

    app = FastAPI(
        title="cxstack",
        version="0.1.0",
        summary="Customer record, conversations and the event backbone of cxstack.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    # The one thing the app keeps: routes reach the settings and the process's services through it.
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_middleware(CorrelationMiddleware)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)
    install_api_reference(app)
    install_workspace_assets(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    answer_directly(app)
    guard_routes(app, runtime.settings)
    install_openapi(app)
    return app
