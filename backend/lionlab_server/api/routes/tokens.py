"""/api/v1/tokens: project-scoped tokens, made by an admin."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lionlab_server import schemas
from lionlab_server.api.deps import AdminDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import DbId, TokenName
from lionlab_server.store import audit, projects, tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    name: TokenName
    project_id: DbId | None = Field(description="The project it acts in; null for an admin token.")


class TokenCreated(schemas.TokenInfo):
    token: str = Field(description="The secret; shown once, store it now.")


@router.post("", status_code=201, response_model=TokenCreated, responses=responses(400, 404))
def create_token(data: TokenCreate, session: WriteSessionDep, scope: AdminDep):
    if data.project_id is not None:
        projects.get_project(session, scope, data.project_id)
    secret, info = tokens.create_token(session, data.name, data.project_id)
    audit.record(
        session, scope, "token.created", "token", info.id, info.project_id, {"name": info.name}
    )
    return TokenCreated(token=secret, **info.model_dump())
