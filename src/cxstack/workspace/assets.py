"""Where the workspace's browser code comes from, and the page headers that allow only it.

Third-party browser libraries (``lit``) are installed by ``npm ci`` into the git-ignored
``web/browser/node_modules`` and served from cxstack's own origin under ``/assets/vendor/<package>/``;
the pages name them through an import map, so the workspace's own modules (``static/``, served under
``/app/static/``) import ``lit`` by its bare name. No bundler: the browser loads the ES modules as they are.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

#: Where ``npm ci`` puts the browser libraries (``web/browser/node_modules``).
NODE_MODULES = Path(__file__).parent.parent / "web" / "browser" / "node_modules"
#: The workspace's own scripts and styles.
STATIC = Path(__file__).parent / "static"
STATIC_ROOT = "/app/static"
VENDOR_ROOT = "/assets/vendor"
#: The packages the pages load, each served from its folder under ``node_modules``.
PACKAGES = ("lit", "lit-html", "lit-element", "@lit/reactive-element")
MISSING_ASSETS = (
    "The workspace's browser libraries are not installed: run `make assets` (or `npm ci` in "
    "src/cxstack/web/browser) and reload."
)

#: Bare module names the workspace's modules (and lit's own) import, and where the browser finds them.
IMPORT_MAP = json.dumps(
    {
        "imports": {
            "lit": f"{VENDOR_ROOT}/lit/index.js",
            "lit/": f"{VENDOR_ROOT}/lit/",
            "lit-html": f"{VENDOR_ROOT}/lit-html/lit-html.js",
            "lit-html/": f"{VENDOR_ROOT}/lit-html/",
            "lit-element/": f"{VENDOR_ROOT}/lit-element/",
            "@lit/reactive-element": f"{VENDOR_ROOT}/@lit/reactive-element/reactive-element.js",
            "@lit/reactive-element/": f"{VENDOR_ROOT}/@lit/reactive-element/",
        }
    },
    indent=1,
)
#: The import map is the one inline script of a page: the policy allows it by its hash, and no other.
IMPORT_MAP_HASH = base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode()

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' 'sha256-{IMPORT_MAP_HASH}'",
        "style-src 'self'",
        "img-src 'self' data:",
        # 'self' covers the page's WebSocket (ws: or wss: to the same host) too.
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
#: The headers of every workspace page: only this origin's scripts run, no site frames it, and a page
#: (which carries the session's CSRF token) is never cached.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def missing_packages() -> list[str]:
    """Return the packages the pages need that ``npm ci`` has not installed."""
    return [name for name in PACKAGES if not (NODE_MODULES / name).is_dir()]
