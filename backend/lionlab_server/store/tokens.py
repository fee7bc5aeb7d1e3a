"""API tokens: created with a secret shown once; stored as a sha256 hash.

A personal token acts as its user, optionally narrowed to one project and/or read-only, until
it expires; a worker token serves only the jobs it claims (a GPU node can read no project)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from lionlab_server.models import ApiToken, User, utcnow
from lionlab_server.schemas import TokenInfo
from lionlab_server.store.grants import user_scope
from lionlab_server.store.scope import Role, Scope

TOKEN_PREFIX = "llk_"
PERSONAL = "personal"  # acts as its user (or as an admin when it has none)
WORKER = "worker"  # claims jobs; heartbeats, logs and finishes only the ones it claimed


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiToken, username: str | None = None) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        prefix=row.prefix,
        created_at=row.created_at,
        kind=row.kind,
        user_id=row.user_id,
        username=username,
        read_only=row.read_only,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def create_token(
    session: Session,
    name: str,
    project_id: int | None = None,
    secret: str | None = None,
    *,
    user_id: int | None = None,
    kind: str = PERSONAL,
    read_only: bool = False,
    expires_at: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """Create a token; returns (secret, info). Without user_id (the bootstrap token, `lionlab
    token create`) it acts as an admin, narrowed to project_id when given."""
    secret = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        project_id=project_id,
        user_id=user_id,
        kind=kind,
        read_only=read_only,
        expires_at=expires_at,
        token_hash=hash_token(secret),
        prefix=secret[:8],
    )
    session.add(row)
    session.flush()
    return secret, _info(row)


def resolve_token(session: Session, secret: str) -> Scope | None:
    """The scope of a live token (not revoked, not expired, its user not disabled)."""
    row = session.execute(
        select(ApiToken, User.username, User.is_admin)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == hash_token(secret),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
            or_(ApiToken.user_id.is_(None), User.disabled.is_(False)),
        )
    ).first()
    if row is None:
        return None
    token, username, is_admin = row
    if token.kind == WORKER:
        roles = {} if token.project_id is None else {token.project_id: Role.VIEWER}
        return Scope(token_id=token.id, admin=token.project_id is None, roles=roles, worker=True)
    if token.user_id is None:
        base = Scope(token_id=token.id, admin=True)
    else:
        base = replace(user_scope(session, token.user_id, username, is_admin), token_id=token.id)
    return base.narrowed(token.project_id, token.read_only)


def list_tokens(
    session: Session, *, user_id: int | None = None, project_id: int | None = None
) -> list[TokenInfo]:
    """Tokens of a user, or narrowed to a project (newest first), revoked ones included."""
    query = select(ApiToken, User.username).outerjoin(User, User.id == ApiToken.user_id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    if project_id is not None:
        query = query.where(ApiToken.project_id == project_id)
    rows = session.execute(query.order_by(ApiToken.id.desc())).all()
    return [_info(token, username) for token, username in rows]


def get_token(session: Session, token_id: int) -> TokenInfo | None:
    row = session.execute(
        select(ApiToken, User.username)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id)
    ).first()
    return None if row is None else _info(*row)


def revoke_token(session: Session, token_id: int) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def has_admin_token(session: Session) -> bool:
    query = select(ApiToken.id).where(ApiToken.project_id.is_(None), ApiToken.revoked_at.is_(None))
    return session.execute(query.limit(1)).first() is not None


def ensure_token(
    session: Session,
    secret: str,
    name: str,
    project_id: int | None = None,
    kind: str = PERSONAL,
) -> bool:
    """Register a known secret (e.g. from the environment); False if it already exists."""
    exists = session.execute(
        select(ApiToken.id).where(ApiToken.token_hash == hash_token(secret))
    ).first()
    if exists:
        return False
    create_token(session, name=name, project_id=project_id, secret=secret, kind=kind)
    return True


def caller_name(session: Session, scope: Scope) -> str:
    """Who the caller is, as recorded on what it writes: the signed-in username, else its
    token's name."""
    if scope.username:
        return scope.username
    name = session.scalar(select(ApiToken.name).where(ApiToken.id == scope.token_id))
    return name or f"token {scope.token_id}"
