"""The browser's sign-in: pages need the `lionlab_token` cookie, else they redirect."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from lionlab_server.api.deps import COOKIE, SessionDep
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import resolve_token

HOME = "/projects"
COOKIE_MAX_AGE_S = 30 * 24 * 3600


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
    """The scope of the sign-in cookie's token, or None (absent, unknown or revoked)."""
    token = request.cookies.get(COOKIE)
    scope = resolve_token(session, token) if token else None
    session.rollback()
    return scope


def page_scope(request: Request, session: SessionDep) -> Scope:
    scope = cookie_scope(request, session)
    if scope is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query)
    return scope


PageScopeDep = Annotated[Scope, Depends(page_scope)]


def redirect_to_sign_in(_: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={quote(exc.next_path, safe='')}", status_code=303)
