"""The browser's sign-in: pages need a sign-in cookie (a session, or a pasted token), else
they redirect to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from lionlab_server.api.deps import (
    COOKIE,
    SESSION_COOKIE,
    SessionDep,
    cookie_credential,
    resolve_credential,
)
from lionlab_server.store.scope import Scope

HOME = "/projects"
COOKIE_MAX_AGE_S = 30 * 24 * 3600  # the token cookie's; a session cookie lives as long as it


class SignInRequired(Exception):
    """A page was asked for without a valid sign-in cookie."""

    def __init__(self, next_path: str):
        self.next_path = next_path


def safe_next(value: str | None) -> str:
    """A same-site path to return to after sign-in (never another origin)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return HOME
    return value


def cookie_scope(request: Request, session: SessionDep) -> Scope | None:
    """The scope of the sign-in cookie, or None (absent, unknown, revoked or expired)."""
    credential = cookie_credential(request)
    return None if credential is None else resolve_credential(request, session, credential)


def redirect_to_sign_in(_: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={quote(exc.next_path, safe='')}", status_code=303)


def set_session_cookie(request: Request, response: Response, secret: str, days: float) -> None:
    """The session's cookie: HttpOnly (scripts cannot read it), SameSite=Lax (a link from
    elsewhere arrives signed in; a cross-site POST does not), Secure over https."""
    if COOKIE in request.cookies:  # the session replaces a pasted token
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(days * 86400),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_sign_in_cookies(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
