"""The workspace's pages: ``/app/sign-in`` (a person signs in to their tenant), ``/app`` (the agent
workspace: the inbox, presence, load, offers arriving live and the work in hand),
``/app/conversations/{id}`` (one conversation: its timeline, live, and the composer),
``/app/wallboard`` (the supervisor's live view of queues, agents, SLA at risk and open work) and
``/app/admin`` (the tenant's administration, for admins).

Pages are server-rendered; their live parts are ES modules (``static/``) that call the API and open the
routing socket with the session cookie. A request to a page without a valid session goes (303) to the
sign-in page, which sends the person back once signed in. A conversation the person does not see answers
404 with the same page as one that does not exist. Pages are not part of the API's OpenAPI document.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from cxstack.governance.staff.oidc import safe_next
from cxstack.kit.errors import NotFound, Unauthorized
from cxstack.web.auth import runtime_of, session_of
from cxstack.workspace.assets import (
    IMPORT_MAP,
    MISSING_ASSETS,
    NODE_MODULES,
    PACKAGES,
    PAGE_HEADERS,
    STATIC,
    STATIC_ROOT,
    VENDOR_ROOT,
    missing_packages,
)
from cxstack.workspace.pages import conversation_header, header_of, sign_in_options

router = APIRouter(include_in_schema=False)
HOME = "/app"
SIGN_IN = "/app/sign-in"
ADMIN = "/app/admin"
WALLBOARD = "/app/wallboard"
#: Who may open the wallboard.
SUPERVISING_ROLES = ("supervisor", "admin")

_templates = Environment(
    loader=PackageLoader("cxstack.workspace", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _page(template: str, *, status_code: int = 200, **values: Any) -> Response:
    """Render a page with the import map and the workspace's headers; 503 with what to run when the
    browser libraries are not installed."""
    if missing_packages():
        body = f"<!doctype html><html lang=en><title>cxstack</title><p>{MISSING_ASSETS}</p></html>"
        return HTMLResponse(body, status_code=503, headers=PAGE_HEADERS)
    html = _templates.get_template(template).render(import_map=IMPORT_MAP, static=STATIC_ROOT, **values)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _destination(next_path: str | None) -> str:
    path = safe_next(next_path)
    return HOME if path == "/" else path


@router.get(SIGN_IN)
async def sign_in_page(
    request: Request,
    tenant: Annotated[str | None, Query(max_length=63)] = None,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """The sign-in form (tenant, email, password); with ``?tenant=`` naming a tenant that signs in
    through its OIDC provider, a link to sign in there too. Once signed in, the person goes to ``next``
    (a path of this site; the workspace by default)."""
    destination = _destination(next)
    options = await runtime_of(request).db.read(
        partial(sign_in_options, tenant=tenant, next_path=quote(destination, safe=""))
    )
    return _page("sign_in.html", options=options, destination=destination)


@router.get(HOME)
async def workspace_page(request: Request) -> Response:
    """The agent workspace of the signed-in person; without a valid session, 303 to the sign-in page."""
    try:
        holder = await session_of(request)
        header = await runtime_of(request).db.read(partial(header_of, holder=holder))
    except Unauthorized:
        return _sign_in_first(request)
    return _page("workspace.html", header=header)


@router.get(HOME + "/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: str) -> Response:
    """One conversation of the signed-in person: its header, timeline and composer; 404 (the same page)
    for an unknown conversation and for one they do not see; without a valid session, 303 to sign in."""
    db = runtime_of(request).db
    try:
        holder = await session_of(request)
        header = await db.read(partial(header_of, holder=holder))
    except Unauthorized:
        return _sign_in_first(request)
    try:
        conversation = await db.read(
            partial(conversation_header, holder=holder, conversation_id=conversation_id[:64])
        )
    except NotFound:
        return _page("not_found.html", status_code=404, header=header)
    return _page("conversation.html", header=header, view=conversation)


def _sign_in_first(request: Request) -> Response:
    query = urlencode({"next": request.url.path})
    return RedirectResponse(f"{SIGN_IN}?{query}", status_code=303, headers=PAGE_HEADERS)


@router.get(ADMIN)
async def admin_page(request: Request) -> Response:
    """The tenant's administration (people, teams, routing, SLAs, canned responses, channels) for an
    admin; 403 saying so for a supervisor or an agent; without a valid session, 303 to the sign-in page."""
    try:
        holder = await session_of(request)
        header = await runtime_of(request).db.read(partial(header_of, holder=holder))
    except Unauthorized:
        return _sign_in_first(request)
    page = _page("admin.html", header=header, allowed=header.role == "admin")
    if header.role != "admin" and page.status_code == 200:
        page.status_code = 403
    return page


@router.get(WALLBOARD)
async def wallboard_page(request: Request) -> Response:
    """The supervisor's live wallboard (queues, agents, SLA at risk, open work), for supervisors and admins;
    an agent gets a 403 page that says so, and a request without a valid session goes (303) to sign in."""
    try:
        holder = await session_of(request)
        header = await runtime_of(request).db.read(partial(header_of, holder=holder))
    except Unauthorized:
        return _sign_in_first(request)
    if header.role not in SUPERVISING_ROLES:
        page = _page("forbidden.html", header=header, what="The wallboard is for supervisors and admins.")
        if page.status_code == 200:
            page.status_code = 403
        return page
    return _page("wallboard.html", header=header)


def install_workspace_assets(app: FastAPI) -> None:
    """Serve the workspace's own files under ``/app/static/`` and its browser libraries under
    ``/assets/vendor/<package>/``."""
    app.mount(STATIC_ROOT, StaticFiles(directory=STATIC), name="workspace-static")
    for name in PACKAGES:
        files = StaticFiles(directory=NODE_MODULES / name, check_dir=False)
        app.mount(f"{VENDOR_ROOT}/{name}", files, name=f"vendor-{name}")
