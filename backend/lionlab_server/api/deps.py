"""Request dependencies: a database session (read, or write: begun and committed here), and
the caller's scope (a bearer token, or the dashboard's sign-in cookie: a session or a token)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from lionlab_server.db import begin_write
from lionlab_server.services import sweeps
from lionlab_server.store import audit
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import resolve_token
from lionlab_server.store.users import resolve_basic, resolve_session

bearer = HTTPBearer(auto_error=False, description="A LionLab API token (llk_...).")


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


TOKEN_TTL_S = 5.0  # a revoked token or session, or a disabled user, is refused within this
_token_cache_lock = threading.Lock()  # TTLCache is not thread-safe; sync routes run in threads

# A credential: ("token", secret), ("session", secret) or ("share", secret), the cache's key.
Credential = tuple[str, str]
# How each kind of credential resolves to a scope (None: refused); share links add theirs.
RESOLVERS: dict[str, Callable[[Session, str], Scope | None]] = {
    "token": resolve_token,
    "session": resolve_session,
}
_WRITING = "lionlab_writing"  # Session.info flag: the request's write transaction has begun


def token_cache(
    ttl: float = TOKEN_TTL_S, size: int = 1024, timer: Callable[[], float] = time.monotonic
) -> TTLCache[Credential, Scope]:
    """Valid tokens' and sessions' scopes for `ttl` seconds, so a run logging every second
    does not look its token up per batch."""
    return TTLCache(maxsize=size, ttl=ttl, timer=timer)


SessionDep = Annotated[Session, Depends(get_session)]


COOKIE = "lionlab_token"  # a token pasted on the sign-in page (HttpOnly, SameSite=Strict)
SESSION_COOKIE = "lionlab_session"  # a password or one-time-link sign-in (HttpOnly, Lax)
CSRF_HEADER = "x-lionlab-csrf"  # cookie-authenticated writes must carry it (any value)
SHARE_HEADER = "x-lionlab-share"  # a share link's secret, sent by its page's API calls
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def cookie_credential(request: Request) -> Credential | None:
    """The dashboard's sign-in cookie: a session, else a token."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        return ("session", secret)
    secret = request.cookies.get(COOKIE)
    return ("token", secret) if secret else None


def request_credential(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Credential | None:
    """The bearer token, else a share link's secret (X-LionLab-Share, sent by its page),
    else the dashboard's sign-in cookie. A share link is read-only (api/access.py refuses
    it every write), and it is taken before the cookie, so a request carrying it never acts
    with the cookie's rights: it needs no CSRF header.

    A cross-site page can make a browser send the cookie but cannot add a custom header
    without a CORS preflight (which LionLab never grants), so cookie-authenticated writes
    must carry X-LionLab-CSRF.
    """
    if credentials is not None:
        return ("token", credentials.credentials)
    scheme, _, basic = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and basic.strip():
        return ("basic", basic.strip())  # a user's name and password (MLflow clients)
    share = request.headers.get(SHARE_HEADER)
    if share:  # a signed-in user's view of a share page is the link's, not the user's
        return ("share", share)
    credential = cookie_credential(request)
    if credential and request.method not in SAFE_METHODS and CSRF_HEADER not in request.headers:
        raise HTTPException(
            403,
            "a request signed in by cookie must send the header "
            "X-LionLab-CSRF (the dashboard does); scripts use a bearer token",
        )
    return credential


def cached_scope(request: Request, credential: Credential) -> Scope | None:
    """The credential's scope if this process's cache holds it (no database read)."""
    with _token_cache_lock:
        return request.app.state.token_cache.get(credential)


def resolve_credential(request: Request, session: Session, credential: Credential) -> Scope | None:
    """The credential's scope, from this process's cache or the database; None: refused."""
    scope = cached_scope(request, credential)
    if scope is None:
        kind, secret = credential
        if kind == "basic":
            address = request.client.host if request.client else None
            scope = resolve_basic(session, secret, address)
        else:
            scope = RESOLVERS[kind](session, secret)
        end_read(session)
        if scope is not None:
            with _token_cache_lock:
                request.app.state.token_cache[credential] = scope
    return scope


def is_writing(session: Session) -> bool:
    """The request's write transaction (WriteSessionDep) has begun on `session`."""
    return bool(session.info.get(_WRITING))


def end_read(session: Session) -> None:
    """End a lookup's read transaction (the route starts its own), unless the request's
    write transaction has begun: the lookup was part of it."""
    if not session.info.get(_WRITING):
        session.rollback()


def forget_credential(request: Request, credential: Credential) -> None:
    """Drop a revoked credential from this process's cache (others expire it within ttl)."""
    with _token_cache_lock:
        request.app.state.token_cache.pop(credential, None)


def authenticate(
    request: Request, session: Session, credentials: HTTPAuthorizationCredentials | None
) -> Scope:
    """The caller's scope from its bearer token or sign-in cookie; 401 otherwise."""
    credential = request_credential(request, credentials)
    if credential is None:
        raise HTTPException(
            401,
            "missing API token: send the header 'Authorization: Bearer <token>' "
            "(the server printed an admin token on first start; `lionlab token create` makes more)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scope = resolve_credential(request, session, credential)
    if scope is None:
        message = {
            "session": "signed out, expired or disabled: sign in again on the dashboard",
            "share": "this share link has expired or was revoked: ask for a new one",
            "basic": "wrong username or password (or too many failures: wait and retry)",
        }.get(credential[0], "unknown or revoked API token: check the Authorization header")
        raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
    return scope


async def caller_scope(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Scope:
    """`authenticate` for a hot path: a credential whose scope is cached costs no
    worker-thread hop and no session; any other is looked up in a thread."""
    credential = request_credential(request, credentials)
    scope = cached_scope(request, credential) if credential is not None else None
    if scope is not None:
        return scope

    def look_up() -> Scope:
        with request.app.state.sessionmaker() as session:
            return authenticate(request, session, credentials)

    return await run_in_threadpool(look_up)


def get_scope(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Scope:
    return authenticate(request, session, credentials)


ScopeDep = Annotated[Scope, Depends(get_scope)]


# Session.info flag: send queued jobs to the broker once this request's transaction commits.
_DISPATCH = "lionlab_dispatch_after_commit"


def get_write_session(request: Request, session: SessionDep, _: ScopeDep) -> Iterator[Session]:
    """The request's session as a writer: begun before the route, committed when it returns
    (before the answer is sent), rolled back when it raises; then queued jobs are sent if
    the route asked. After the scope, whose token lookup ends its own read transaction."""
    begin_write(session)
    session.info[_WRITING] = True
    audit.set_address(session, request.client.host if request.client else None)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_WRITING, None)
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
