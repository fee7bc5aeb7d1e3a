"""Sign-in and sign-out: a pasted API token becomes the HttpOnly `lionlab_token` cookie."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from lionlab_server.api.deps import COOKIE, SessionDep
from lionlab_server.store.tokens import resolve_token
from lionlab_server.web.paths import templates
from lionlab_server.web.session import COOKIE_MAX_AGE_S, cookie_scope, safe_next

router = APIRouter(include_in_schema=False)

UNKNOWN_TOKEN = (
    "That token is unknown or was revoked. Paste a whole token (it starts with llk_): the "
    "server printed an admin token on first start and saved it to <data dir>/admin-token; "
    "`lionlab token create` makes more."
)


def _form(request: Request, next_path: str, error: str | None, status: int = 200) -> Response:
    context = {
        "next": next_path,
        "error": error,
        "signed_out": "signed_out" in request.query_params,
    }
    return templates.TemplateResponse(request, "signin.html", context, status_code=status)


def _same_origin(request: Request) -> bool:
    """A browser sends Origin with a form POST; refuse sign-ins posted from other sites."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


@router.get("/signin")
def sign_in_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if cookie_scope(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, safe_next(next), None)


@router.post("/signin")
async def sign_in(request: Request, session: SessionDep) -> Response:
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (fields.get("token") or [""])[0].strip()
    next_path = safe_next((fields.get("next") or [None])[0])
    if not _same_origin(request):
        return _form(request, next_path, "Sign in from this dashboard's own page.", 403)
    if not token:
        return _form(request, next_path, "Paste an API token to sign in.", 400)
    scope = await run_in_threadpool(resolve_token, session, token)
    session.rollback()
    if scope is None:
        return _form(request, next_path, UNKNOWN_TOKEN, 401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout")
def sign_out() -> Response:
    response = RedirectResponse("/signin?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
