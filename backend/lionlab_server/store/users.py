"""Users: argon2id passwords, server-side sign-in sessions, one-time sign-in links, and the
slow-down of repeated failed sign-ins.

Session and link secrets are shown once (a cookie, a URL) and stored as their sha256, like
API tokens. A session resolves to a `Scope`: every project for an admin user, else the
projects granted to the user or its teams (store/grants.py).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from lionlab.json_values import text_problem
from lionlab_server.db import begin_write
from lionlab_server.errors import Conflict, NotFound
from lionlab_server.models import SignInFailure, SignInLink, User, UserSession, utcnow
from lionlab_server.store.grants import user_scope
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import hash_token

SESSION_PREFIX = "lls_"
LINK_PREFIX = "lll_"
FIRST_ADMIN = "admin"
# Failed sign-ins per (username, address) allowed before each further try waits; the wait
# starts at BASE_DELAY_S and doubles per failure, up to MAX_DELAY_S.
FREE_FAILURES = 5
BASE_DELAY_S = 30
MAX_DELAY_S = 3600

_hasher = PasswordHash((Argon2Hasher(),))  # argon2id with pwdlib's default cost


@cache
def _unknown_user_hash() -> str:
    """Verified against when the username is unknown, so both cost the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    email: str | None
    display_name: str
    is_admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime


def _info(row: User) -> UserInfo:
    return UserInfo(
        id=row.id,
        username=row.username,
        email=row.email,
        display_name=row.display_name,
        is_admin=row.is_admin,
        disabled=row.disabled,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
    )


def normalize_username(username: str) -> str:
    return username.strip().lower()


def create_user(
    session: Session,
    username: str,
    *,
    password: str | None = None,
    email: str | None = None,
    display_name: str = "",
    is_admin: bool = False,
) -> UserInfo:
    """A new user; without a password it can sign in only through a one-time link."""
    username = normalize_username(username)
    _check_free(session, username, email)
    row = User(
        username=username,
        email=email,
        display_name=display_name,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
        disabled=False,
    )
    session.add(row)
    session.flush()
    return _info(row)


def _check_free(session: Session, username: str | None, email: str | None, but: int = 0) -> None:
    """Usernames and emails are unique: a taken one is a 409 naming it, not an IntegrityError."""
    if username is not None and session.scalar(
        select(User.id).where(User.username == username, User.id != but)
    ):
        raise Conflict(f"the username {username!r} is taken", "username")
    if email is not None and session.scalar(
        select(User.id).where(User.email == email, User.id != but)
    ):
        raise Conflict(f"another user has the email {email!r}", "email")


def get_user(session: Session, user_id: int) -> UserInfo | None:
    row = session.get(User, user_id)
    return None if row is None else _info(row)


def find_user(session: Session, username: str) -> UserInfo | None:
    row = session.scalar(select(User).where(User.username == normalize_username(username)))
    return None if row is None else _info(row)


def list_users(session: Session) -> list[UserInfo]:
    return [_info(row) for row in session.scalars(select(User).order_by(User.username))]


def update_user(session: Session, user_id: int, **changes) -> UserInfo:
    """Change any of display_name, email, is_admin, disabled; a disabled user's sessions and
    tokens stop working within the scope cache's ttl."""
    row = session.get(User, user_id, with_for_update=True)
    if row is None:
        raise NotFound("user", user_id, "user_id")
    if "email" in changes:
        _check_free(session, None, changes["email"], but=user_id)
    for name in ("display_name", "email", "is_admin", "disabled"):
        if name in changes:
            setattr(row, name, changes[name])
    session.flush()
    return _info(row)


def hash_password(password: str) -> str:
    """argon2id; slow on purpose (tens of ms), so hash before taking a write lock."""
    return _hasher.hash(password)


def set_password(session: Session, user_id: int, password_hash: str) -> None:
    """Store a hash from `hash_password`."""
    session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def set_disabled(session: Session, user_id: int, disabled: bool = True) -> None:
    """Disable (or enable) a user; its sessions stop working within the scope cache's ttl."""
    session.execute(update(User).where(User.id == user_id).values(disabled=disabled))


def check_password(session: Session, username: str, password: str) -> UserInfo | None:
    """The user when `password` is theirs and they are not disabled, else None."""
    row = session.execute(
        select(User).where(User.username == normalize_username(username))
    ).scalar_one_or_none()
    if row is None or row.password_hash is None:
        _hasher.verify(password, _unknown_user_hash())
        return None
    if not _hasher.verify(password, row.password_hash) or row.disabled:
        return None
    return _info(row)


def resolve_basic(session: Session, secret: str, address: str | None) -> Scope | None:
    """The scope of HTTP Basic credentials (base64 of `username:password`, what MLflow
    clients send from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). Failures count
    against the same (username, address) limit as the sign-in page's, in their own
    transaction."""
    try:
        username, _, password = base64.b64decode(secret, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if not username or text_problem(username) or len(username) > 200 or len(password) > 1024:
        return None
    if sign_in_wait(session, username, address):
        return None
    user = check_password(session, username, password)
    session.rollback()  # the hash was checked outside any write transaction
    if user is None:
        with Session(bind=session.get_bind()) as writer:
            begin_write(writer)
            record_failure(writer, username, address)
            writer.commit()
        return None
    return user_scope(session, user.id, user.username, user.is_admin)


# --- sessions ----------------------------------------------------------------------------


def create_session(session: Session, user_id: int, days: float, address: str | None) -> str:
    """A new sign-in session for `user_id`, valid `days`; returns the cookie's secret."""
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            id=hash_token(secret),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(days=days),
            last_address=(address or "")[:64] or None,
        )
    )
    session.flush()
    return secret


def resolve_session(session: Session, secret: str) -> Scope | None:
    """The scope of a live session (not revoked, not expired, its user not disabled)."""
    row = session.execute(
        select(User.id, User.username, User.is_admin)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.id == hash_token(secret),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > utcnow(),
            User.disabled.is_(False),
        )
    ).first()
    if row is None:
        return None
    return user_scope(session, row.id, row.username, row.is_admin)


def revoke_session(session: Session, secret: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == hash_token(secret), UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# --- one-time sign-in links --------------------------------------------------------------


class LinkRefused(Exception):
    """A one-time link that cannot sign anyone in; `reason` is unknown, used or expired."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def create_sign_in_link(session: Session, user_id: int, hours: float) -> str:
    """A single-use sign-in secret for `user_id`, valid `hours`."""
    secret = LINK_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        SignInLink(
            id=hash_token(secret),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.flush()
    return secret


def use_sign_in_link(session: Session, secret: str) -> int:
    """Spend the link (one conditional UPDATE, so two clicks cannot both win); returns its
    user's id, or raises LinkRefused."""
    now = utcnow()
    link_id = hash_token(secret)
    used = session.execute(
        update(SignInLink)
        .where(SignInLink.id == link_id, SignInLink.used_at.is_(None), SignInLink.expires_at > now)
        .values(used_at=now)
        .returning(SignInLink.user_id)
    ).scalar_one_or_none()
    if used is not None:
        user = session.get(User, used)
        if user is not None and not user.disabled:
            return used
        raise LinkRefused("disabled")
    row = session.get(SignInLink, link_id)
    if row is None:
        raise LinkRefused("unknown")
    raise LinkRefused("used" if row.used_at is not None else "expired")


def first_admin_link(session: Session, hours: float) -> str | None:
    """First start: create the `admin` user when there are no users. While that admin has
    no password, return a fresh sign-in link (earlier unused ones expire now)."""
    if session.execute(select(User.id).limit(1)).first() is None:
        create_user(session, FIRST_ADMIN, is_admin=True, display_name="Administrator")
    admin = session.execute(
        select(User).where(User.username == FIRST_ADMIN, User.is_admin.is_(True))
    ).scalar_one_or_none()
    if admin is None or admin.password_hash is not None or admin.disabled:
        return None
    now = utcnow()
    session.execute(
        update(SignInLink)
        .where(SignInLink.user_id == admin.id, SignInLink.used_at.is_(None))
        .where(SignInLink.expires_at > now)
        .values(expires_at=now)
    )
    return create_sign_in_link(session, admin.id, hours)


# --- failed sign-ins ---------------------------------------------------------------------


def _failure_key(username: str, address: str | None) -> tuple[str, str]:
    return normalize_username(username)[:64], (address or "-")[:64]


def sign_in_wait(session: Session, username: str, address: str | None) -> float:
    """Seconds until (username, address) may try a password again; 0 when it may now."""
    row = session.get(SignInFailure, _failure_key(username, address))
    if row is None or row.blocked_until is None:
        return 0.0
    return max(0.0, (row.blocked_until - utcnow()).total_seconds())


def record_failure(session: Session, username: str, address: str | None) -> float:
    """Count a failed sign-in; returns the seconds the next try must wait (0: none)."""
    name, addr = _failure_key(username, address)
    now = utcnow()
    row = session.get(SignInFailure, (name, addr), with_for_update=True)
    if row is None:
        row = SignInFailure(username=name, address=addr, failures=0)
        session.add(row)
    row.failures += 1
    row.last_failure_at = now
    over = min(row.failures - FREE_FAILURES, 20)  # 30 s * 2**20 is past the cap anyway
    delay = 0.0 if over < 0 else float(min(MAX_DELAY_S, BASE_DELAY_S * 2**over))
    row.blocked_until = now + timedelta(seconds=delay) if delay else None
    session.flush()
    return delay


def clear_failures(session: Session, username: str, address: str | None) -> None:
    name, addr = _failure_key(username, address)
    session.execute(
        delete(SignInFailure).where(SignInFailure.username == name, SignInFailure.address == addr)
    )
