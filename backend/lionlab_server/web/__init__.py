"""The browser dashboard: pages, sign-in/out, static files, plotly.js and the view API.

`install(app)` wires it into the FastAPI app; everything it serves besides /signin, the
static files and plotly.js needs the sign-in cookie (pages) or a token (API).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from lionlab_server.api.errors import COMMON, responses
from lionlab_server.web import (
    auth,
    checks,
    compare_views,
    pages,
    run_views,
    sweep_pages,
    sweep_views,
)
from lionlab_server.web.paths import PLOTLY_JS, PLOTLY_URL, STATIC_DIR
from lionlab_server.web.session import SignInRequired, redirect_to_sign_in

API_PREFIX = "/api/v1"


class RevalidatedStaticFiles(StaticFiles):
    """Static modules are revalidated on each load (ETag), so an upgrade is never stale."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _plotly_js() -> FileResponse:
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def install(app: FastAPI) -> None:
    """Add the dashboard to `app`."""
    for module in (checks, run_views, compare_views, sweep_views):
        app.include_router(module.router, prefix=API_PREFIX, responses=responses(*COMMON))
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(sweep_pages.router)
    app.add_api_route(PLOTLY_URL, _plotly_js, include_in_schema=False)
    app.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(SignInRequired, redirect_to_sign_in)
