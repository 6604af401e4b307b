"""The API reference pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with their browser
libraries from cxstack's own origin, so that they work without internet.

The libraries come from the npm registry: ``web/browser/package.json`` pins them and ``npm ci`` (run by the
make targets) installs them into ``web/browser/node_modules``, which is never committed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

#: Where ``npm ci`` puts the browser libraries.
NODE_MODULES = Path(__file__).parent / "browser" / "node_modules"
#: The URL path each library's files are served under, and the folder they come from.
ASSET_ROOT = "/assets/vendor"
LIBRARIES = {
    "swagger-ui-dist": NODE_MODULES / "swagger-ui-dist",
    "redoc": NODE_MODULES / "redoc" / "bundles",
}
MISSING_ASSETS = (
    "The API reference's browser libraries are not installed: run `make assets` (or `npm ci` in "
    "src/cxstack/web/browser) and reload. The OpenAPI document itself is at /openapi.json."
)

router = APIRouter(include_in_schema=False)


def _missing() -> str | None:
    """Return which library folders are missing, or None when all are installed."""
    missing = [name for name, folder in LIBRARIES.items() if not folder.is_dir()]
    return ", ".join(missing) or None


def _unavailable() -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>cxstack API</title><p>{MISSING_ASSETS}</p>", status_code=503)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI over ``/openapi.json``; 503 with what to run when its files are not installed."""
    if _missing():
        return _unavailable()
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="cxstack API",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url=f"{ASSET_ROOT}/swagger-ui-dist/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_ROOT}/swagger-ui-dist/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_ROOT}/swagger-ui-dist/favicon-32x32.png",
        # Every group starts folded: the API has some 25 of them, and Swagger UI stops rendering the
        # groups part-way when it must lay out all of them open at once.
        swagger_ui_parameters={"docExpansion": "none"},
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """ReDoc over ``/openapi.json``, without web fonts from a CDN."""
    if _missing():
        return _unavailable()
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="cxstack API",
        redoc_js_url=f"{ASSET_ROOT}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{ASSET_ROOT}/swagger-ui-dist/favicon-32x32.png",
        with_google_fonts=False,
    )


def install_api_reference(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and the two libraries' files under ``/assets/vendor/<library>/``."""
    app.include_router(router)
    for name, folder in LIBRARIES.items():
        files = StaticFiles(directory=folder, check_dir=False)
        app.mount(f"{ASSET_ROOT}/{name}", files, name=f"vendor-{name}")
