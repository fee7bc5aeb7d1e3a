"""Sign-in and sign-out, the one-time sign-in link and the account page.

A password (or the one-time link printed on first start) starts a server-side session held
in the HttpOnly `lionlab_session` cookie; a pasted API token becomes the `lionlab_token`
cookie (for automation and token-only setups). Sign-out revokes the session in the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from lionlab.json_values import text_problem
from lionlab_server.api.access import VIEWER, PageNeeds, public
from lionlab_server.api.deps import (
    COOKIE,
    SESSION_COOKIE,
    SessionDep,
    forget_credential,
    resolve_credential,
)
from lionlab_server.api.validation import Password
from lionlab_server.db import begin_write
from lionlab_server.store import audit, projects, tokens, users
from lionlab_server.web.paths import templates
from lionlab_server.web.session import (
    COOKIE_MAX_AGE_S,
    clear_sign_in_cookies,
    cookie_scope,
    safe_next,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)
SignedIn = PageNeeds(VIEWER)  # any signed-in user or token

UNKNOWN_TOKEN = (
    "That token is unknown or was revoked. Paste a whole token (it starts with llk_): the "
    "server printed an admin token on first start and saved it to <data dir>/admin-token; "
    "`lionlab token create` makes more."
)
WRONG_PASSWORD = "Wrong username or password (or the user is disabled)."
LINK_REFUSED = {
    "used": "This sign-in link was already used. Each link signs in once; sign in with your "
    "password, or restart `lionlab up` for a new link while the admin has no password.",
    "expired": "This sign-in link has expired. Restart `lionlab up` (or `lionlab server`) "
    "for a new one while the admin has no password.",
    "unknown": "This sign-in link is not valid. Copy the whole URL the server printed.",
    "disabled": "This sign-in link belongs to a disabled user.",
}
_password = TypeAdapter(Password)
USERNAME_MAX = 64  # the column's length


def _form(
    request: Request,
    next_path: str,
    error: str | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    username: str = "",
) -> Response:
    context = {
        "next": next_path,
        "error": error,
        "username": username,
        "signed_out": "signed_out" in request.query_params,
    }
    return templates.TemplateResponse(
        request, "signin.html", context, status_code=status, headers=headers
    )


def _same_origin(request: Request) -> bool:
    """A browser sends Origin with a form POST; refuse forms posted from other sites."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _fields(request: Request) -> dict[str, str]:
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


def _session_days(request: Request) -> float:
    return request.app.state.settings.session_days


@router.get("/signin", dependencies=[public()])
def sign_in_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if cookie_scope(request, session) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, safe_next(next), None)


@router.post("/signin", dependencies=[public()])
async def sign_in(request: Request, session: SessionDep) -> Response:
    fields = await _fields(request)
    next_path = safe_next(fields.get("next"))
    if not _same_origin(request):
        return _form(request, next_path, "Sign in from this dashboard's own page.", 403)
    if "username" in fields:
        sign_in_with: Callable[..., Response] = _password_sign_in
    else:
        sign_in_with = _token_sign_in
    return await run_in_threadpool(sign_in_with, request, session, fields, next_path)


def _password_sign_in(
    request: Request, session: Session, fields: dict[str, str], next_path: str
) -> Response:
    username = users.normalize_username(fields.get("username", ""))
    password = fields.get("password", "")
    if not username or not password:
        return _form(request, next_path, "Enter a username and a password.", 400, None, username)
    if text_problem(username) or len(username) > USERNAME_MAX:
        return _form(request, next_path, WRONG_PASSWORD, 401)  # no such user can exist
    address = _address(request)
    wait = users.sign_in_wait(session, username, address)
    user = None if wait else users.check_password(session, username, password)
    session.rollback()  # the hash was checked outside the write transaction
    if wait:
        return _too_many(request, next_path, username, wait)
    begin_write(session)
    if user is None:
        delay = users.record_failure(session, username, address)
        session.commit()
        error = WRONG_PASSWORD
        if delay:
            error += f" Too many failures: the next try must wait {math.ceil(delay)} seconds."
        return _form(request, next_path, error, 401, None, username)
    users.clear_failures(session, username, address)
    secret = users.create_session(session, user.id, _session_days(request), address)
    session.commit()
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, secret, _session_days(request))
    return response


def _too_many(request: Request, next_path: str, username: str, wait: float) -> Response:
    seconds = math.ceil(wait)
    error = (
        f"Too many failed sign-ins for {username} from this address: try again in "
        f"{seconds} seconds."
    )
    headers = {"Retry-After": str(seconds)}
    return _form(request, next_path, error, 429, headers, username)


def _token_sign_in(
    request: Request, session: Session, fields: dict[str, str], next_path: str
) -> Response:
    token = fields.get("token", "").strip()
    if not token:
        return _form(request, next_path, "Paste an API token to sign in.", 400)
    if resolve_credential(request, session, ("token", token)) is None:
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


@router.post("/signout", dependencies=[public()])
def sign_out(request: Request, session: SessionDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        begin_write(session)
        users.revoke_session(session, secret)
        session.commit()
        forget_credential(request, ("session", secret))
    response = RedirectResponse("/signin?signed_out=1", status_code=303)
    clear_sign_in_cookies(response)
    return response


@router.get("/signin/once/{secret}", dependencies=[public()])
def sign_in_once(
    request: Request, session: SessionDep, secret: str = Path(max_length=200)
) -> Response:
    """The one-time link: spend it, start a session, and ask for a password."""
    begin_write(session)
    try:
        user_id = users.use_sign_in_link(session, secret)
    except users.LinkRefused as refused:
        session.rollback()
        status = 404 if refused.reason == "unknown" else 410
        context = {"reason": refused.reason, "message": LINK_REFUSED[refused.reason]}
        return templates.TemplateResponse(request, "signin_link.html", context, status_code=status)
    cookie = users.create_session(session, user_id, _session_days(request), _address(request))
    session.commit()
    response = RedirectResponse("/account?welcome=1", status_code=303)
    set_session_cookie(request, response, cookie, _session_days(request))
    return response


def _account(
    request: Request, session: Session, scope, error: str | None = None, status: int = 200
) -> Response:
    user = users.get_user(session, scope.user_id) if scope.user_id is not None else None
    own_tokens, own_projects = _token_choices(session, scope) if user else ([], [])
    session.rollback()
    context = {
        "scope": scope,
        "active": "account",
        "user": user,
        "tokens": own_tokens,
        "projects": own_projects,
        "error": error,
        "welcome": "welcome" in request.query_params,
        "saved": "saved" in request.query_params,
    }
    return templates.TemplateResponse(request, "account.html", context, status_code=status)


def _token_choices(session: Session, scope) -> tuple[list, list]:
    """The user's live tokens, and the projects a new one may be narrowed to."""
    live = [t for t in tokens.list_tokens(session, user_id=scope.user_id) if t.revoked_at is None]
    return live, projects.list_projects(session, scope, None, 500, 0).items


@router.get("/account")
def account_page(request: Request, session: SessionDep, access: SignedIn) -> Response:
    return _account(request, session, access.caller)


@router.post("/account/password")
async def set_password(request: Request, session: SessionDep, access: SignedIn) -> Response:
    scope = access.caller
    fields = await _fields(request)
    if not _same_origin(request):
        return _account(request, session, scope, "Change it from this dashboard's page.", 403)
    return await run_in_threadpool(_set_password, request, session, scope, fields)


def _set_password(request: Request, session: Session, scope, fields: dict[str, str]) -> Response:
    user = users.get_user(session, scope.user_id) if scope.user_id is not None else None
    if user is None:
        return _account(request, session, scope, "Signed in with a token: no password to set.", 400)
    new, again = fields.get("new_password", ""), fields.get("new_password_again", "")
    try:
        _password.validate_python(new)
    except ValidationError:
        error = "Choose a password of 8 to 1024 characters."
        return _account(request, session, scope, error, 400)
    if new != again:
        return _account(request, session, scope, "The two passwords differ.", 400)
    current = fields.get("current_password", "")
    if user.has_password and users.check_password(session, user.username, current) is None:
        return _account(request, session, scope, "The current password is wrong.", 400)
    session.rollback()
    new_hash = users.hash_password(new)
    begin_write(session)
    users.set_password(session, user.id, new_hash)
    audit.set_address(session, request.client.host if request.client else None)
    audit.record(
        session, scope, "password.changed", "user", user.id, None, {"username": user.username}
    )
    session.commit()
    return RedirectResponse("/account?saved=1", status_code=303)
