"""Request dependencies: a database session (read, or write: begun and committed here), and
the caller's token scope."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from lionlab_server.db import begin_write
from lionlab_server.errors import Forbidden
from lionlab_server.services import sweeps
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import resolve_token

bearer = HTTPBearer(auto_error=False, description="A LionLab API token (llk_...).")


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


TOKEN_TTL_S = 5.0  # a revoked token stops working within this many seconds
_token_cache_lock = threading.Lock()  # TTLCache is not thread-safe; sync routes run in threads


def token_cache(
    ttl: float = TOKEN_TTL_S, size: int = 1024, timer: Callable[[], float] = time.monotonic
) -> TTLCache[str, Scope]:
    """Valid tokens' scopes for `ttl` seconds, so a run logging every second does not look
    its token up per batch."""
    return TTLCache(maxsize=size, ttl=ttl, timer=timer)


SessionDep = Annotated[Session, Depends(get_session)]


COOKIE = "lionlab_token"  # set by the dashboard's sign-in page (HttpOnly, SameSite=Strict)
CSRF_HEADER = "x-lionlab-csrf"  # cookie-authenticated writes must carry it (any value)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def request_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The bearer token, else the dashboard's sign-in cookie.

    A cross-site page can make a browser send the cookie but cannot add a custom header
    without a CORS preflight (which LionLab never grants), so cookie-authenticated writes
    must carry X-LionLab-CSRF.
    """
    if credentials is not None:
        return credentials.credentials
    token = request.cookies.get(COOKIE)
    if token and request.method not in SAFE_METHODS and CSRF_HEADER not in request.headers:
        raise HTTPException(
            403,
            "a request signed in by cookie must send the header "
            "X-LionLab-CSRF (the dashboard does); scripts use a bearer token",
        )
    return token


def authenticate(
    request: Request, session: Session, credentials: HTTPAuthorizationCredentials | None
) -> Scope:
    """The caller's scope from its bearer token or sign-in cookie; 401 otherwise."""
    token = request_token(request, credentials)
    if token is None:
        raise HTTPException(
            401,
            "missing API token: send the header 'Authorization: Bearer <token>' "
            "(the server printed an admin token on first start; `lionlab token create` makes more)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    cache = request.app.state.token_cache
    with _token_cache_lock:
        scope = cache.get(token)
    if scope is None:
        scope = resolve_token(session, token)
        session.rollback()  # end the read transaction; the route starts its own
        if scope is not None:
            with _token_cache_lock:
                cache[token] = scope
    if scope is None:
        raise HTTPException(
            401,
            "unknown or revoked API token: check the Authorization header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return scope


def get_scope(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Scope:
    return authenticate(request, session, credentials)


ScopeDep = Annotated[Scope, Depends(get_scope)]


def require_admin(scope: ScopeDep) -> Scope:
    if not scope.is_admin:
        raise Forbidden("this needs an admin token; project tokens act within their project")
    return scope


AdminDep = Annotated[Scope, Depends(require_admin)]


# Session.info flag: send queued jobs to the broker once this request's transaction commits.
_DISPATCH = "lionlab_dispatch_after_commit"


def get_write_session(request: Request, session: SessionDep, _: ScopeDep) -> Iterator[Session]:
    """The request's session as a writer: begun before the route, committed when it returns
    (before the answer is sent), rolled back when it raises; then queued jobs are sent if
    the route asked. After the scope, whose token lookup ends its own read transaction."""
    begin_write(session)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()
    if session.info.pop(_DISPATCH, False):
        request.app.state.dispatcher.dispatch_pending()


WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


def dispatch_after_commit(session: Session) -> None:
    """Send the queued jobs to the broker once `session`'s write transaction commits."""
    session.info[_DISPATCH] = True


def run_ended(session: Session, run_id: int) -> None:
    """A run ended in this transaction: its sweep's freed slot may queue the next trial."""
    if sweeps.run_ended(session, run_id):
        dispatch_after_commit(session)
