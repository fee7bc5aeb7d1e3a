"""Share links in SQL: a read-only link to one run, one saved comparison or one sweep's
report, its secret shown once and stored as a sha256 hash (like a token's).

Whoever holds the secret is a share caller (store/scope.Share): it sees its one object and
what that object shows, nothing else. `permits` is that reach, the policy api/access.py
asks for every share caller's request: a run share reaches the run; a comparison share the
comparison and the runs of its saved state; a sweep share the sweep and its trials' runs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lionlab_server.errors import NotFound
from lionlab_server.models import Run, SavedComparison, ShareLink, Sweep, utcnow
from lionlab_server.store.scope import Scope, Share
from lionlab_server.store.tokens import hash_token

SHARE_PREFIX = "lsh_"
KINDS = ("run", "comparison", "sweep")
DEFAULT_DAYS = 30
MAX_DAYS = 365

_MODELS = {"run": Run, "comparison": SavedComparison, "sweep": Sweep}


@dataclass(frozen=True)
class ShareInfo:
    id: int
    project_id: int
    kind: str
    object_id: int
    prefix: str
    created_by: str
    created_by_user_id: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()


def _info(row: ShareLink) -> ShareInfo:
    return ShareInfo(
        row.id,
        row.project_id,
        row.kind,
        row.object_id,
        row.prefix,
        row.created_by,
        row.created_by_user_id,
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


def project_of_object(session: Session, kind: str, object_id: int) -> int | None:
    """The project of the run, comparison or sweep to share; None when there is none."""
    model = _MODELS[kind]
    return session.scalar(select(model.project_id).where(model.id == object_id))


def create_share(
    session: Session,
    project_id: int,
    kind: str,
    object_id: int,
    created_by: str,
    created_by_user_id: int | None,
    *,
    days: int = DEFAULT_DAYS,
) -> tuple[str, ShareInfo]:
    """A new link to the project's object (the route checked the creator may share it);
    returns (secret, info). The secret is not stored."""
    secret = SHARE_PREFIX + secrets.token_urlsafe(32)
    row = ShareLink(
        project_id=project_id,
        kind=kind,
        object_id=object_id,
        secret_hash=hash_token(secret),
        prefix=secret[:8],  # as a token's: enough to recognise, too little to guess
        created_by=created_by[:200],
        created_by_user_id=created_by_user_id,
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return secret, _info(row)


def list_shares(session: Session, project_id: int) -> list[ShareInfo]:
    """Every link of the project, newest first, revoked and expired ones included."""
    rows = session.scalars(
        select(ShareLink).where(ShareLink.project_id == project_id).order_by(ShareLink.id.desc())
    )
    return [_info(row) for row in rows]


def get_share(session: Session, share_id: int) -> ShareInfo:
    row = session.get(ShareLink, share_id)
    if row is None:
        raise NotFound("share", share_id, "share_id")
    return _info(row)


def project_of_share(session: Session, share_id: int) -> int | None:
    return session.scalar(select(ShareLink.project_id).where(ShareLink.id == share_id))


def revoke_share(session: Session, share_id: int) -> ShareInfo:
    """Revoke the link (a revoked one stays revoked); returns it as it is now."""
    session.execute(
        update(ShareLink)
        .where(ShareLink.id == share_id, ShareLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.expire_all()
    return get_share(session, share_id)


def find_live(session: Session, secret: str) -> ShareInfo | None:
    """The link of a secret, None when unknown, revoked or expired."""
    if not secret.startswith(SHARE_PREFIX):
        return None
    row = session.scalar(
        select(ShareLink).where(
            ShareLink.secret_hash == hash_token(secret),
            ShareLink.revoked_at.is_(None),
            ShareLink.expires_at > utcnow(),
        )
    )
    return None if row is None else _info(row)


def resolve(session: Session, secret: str) -> Scope | None:
    """The share caller of a live link's secret (api/deps.RESOLVERS["share"])."""
    info = find_live(session, secret)
    if info is None:
        return None
    return Scope(share=Share(info.id, info.kind, info.object_id, info.project_id))


def permits(session: Session, share: Share, kind: str, ident: int) -> bool:
    """May the share link read object `ident` of `kind`? Its object, and what it shows."""
    if kind == share.kind and ident == share.object_id:
        return True
    if kind != "run":
        return False
    if share.kind == "comparison":
        state = session.scalar(
            select(SavedComparison.state).where(SavedComparison.id == share.object_id)
        )
        return ident in (state or {}).get("runs", [])
    if share.kind == "sweep":
        sweep_id = session.scalar(select(Run.sweep_id).where(Run.id == ident))
        return sweep_id is not None and sweep_id == share.object_id
    return False
