"""Request dependencies: settings, a database session, and the caller's token scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from lionlab.settings import Settings
from lionlab_server.errors import Forbidden
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import resolve_token

bearer = HTTPBearer(auto_error=False, description="A LionLab API token (llk_...).")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_scope(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Scope:
    if credentials is None:
        raise HTTPException(
            401,
            "missing API token: send the header 'Authorization: Bearer <token>' "
            "(the server printed an admin token on first start; `lionlab token create` makes more)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scope = resolve_token(session, credentials.credentials)
    session.rollback()  # end the read transaction; the route starts its own
    if scope is None:
        raise HTTPException(
            401,
            "unknown or revoked API token: check the Authorization header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return scope


ScopeDep = Annotated[Scope, Depends(get_scope)]


def require_admin(scope: ScopeDep) -> Scope:
    if not scope.is_admin:
        raise Forbidden("this needs an admin token; project tokens act within their project")
    return scope


AdminDep = Annotated[Scope, Depends(require_admin)]
