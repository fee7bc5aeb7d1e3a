"""API tokens: created with a secret shown once; stored as a sha256 hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from lionlab_server.models import ApiToken
from lionlab_server.schemas import TokenInfo
from lionlab_server.store.scope import Scope

TOKEN_PREFIX = "llk_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        project_id=row.project_id,
        prefix=row.prefix,
        created_at=row.created_at,
    )


def create_token(
    session: Session, name: str, project_id: int | None = None, secret: str | None = None
) -> tuple[str, TokenInfo]:
    """Create a token (admin when project_id is None); returns (secret, info)."""
    secret = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, project_id=project_id, token_hash=hash_token(secret), prefix=secret[:8]
    )
    session.add(row)
    session.flush()
    return secret, _info(row)


def resolve_token(session: Session, secret: str) -> Scope | None:
    """The scope of a live token, or None for an unknown or revoked one."""
    row = session.execute(
        select(ApiToken.id, ApiToken.project_id).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else Scope(token_id=row.id, project_id=row.project_id)


def has_admin_token(session: Session) -> bool:
    query = select(ApiToken.id).where(ApiToken.project_id.is_(None), ApiToken.revoked_at.is_(None))
    return session.execute(query.limit(1)).first() is not None


def ensure_token(session: Session, secret: str, name: str, project_id: int | None = None) -> bool:
    """Register a known secret (e.g. from the environment); False if it already exists."""
    exists = session.execute(
        select(ApiToken.id).where(ApiToken.token_hash == hash_token(secret))
    ).first()
    if exists:
        return False
    create_token(session, name=name, project_id=project_id, secret=secret)
    return True


def caller_name(session: Session, scope: Scope) -> str:
    """Who the caller is, as recorded on what it writes: the signed-in username, else its
    token's name."""
    if scope.username:
        return scope.username
    name = session.scalar(select(ApiToken.name).where(ApiToken.id == scope.token_id))
    return name or f"token {scope.token_id}"
