"""/api/v1 run notes: a markdown note per run. Anyone who may read the run reads it; anyone
who may write to the run's project writes it (the editor and the time are recorded)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from lionlab_server.api.access import EDITOR, VIEWER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import IdPath, NoteText
from lionlab_server.store import notes as store
from lionlab_server.views.markdown import render_markdown

router = APIRouter(prefix="/runs", tags=["notes"])


class NoteIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"text": "## Why\nLion at 3x lower lr than AdamW."}]}
    )

    text: NoteText = Field(description="Markdown, up to 20,000 characters; empty removes it.")


class NoteOut(BaseModel):
    run_id: int
    text: str = Field(description='The markdown as written; "" when the run has no note.')
    html: str = Field(
        description="The note rendered: markdown structure around escaped text (raw HTML in "
        "the text is shown as text, links keep only http(s) targets)."
    )
    updated_at: datetime | None = None
    updated_by: str | None = Field(
        default=None, description="The username, or the token's name, that last wrote it."
    )


def _out(note: store.Note) -> NoteOut:
    return NoteOut(
        run_id=note.run_id,
        text=note.text,
        html=render_markdown(note.text),
        updated_at=note.updated_at,
        updated_by=note.updated_by,
    )


@router.get("/{run_id}/note", response_model=NoteOut, responses=responses(404))
def get_note(run_id: IdPath, session: SessionDep, access: Needs(VIEWER, "run", share=True)):
    return _out(store.get_note(session, access.scope, run_id))


@router.put("/{run_id}/note", response_model=NoteOut, responses=responses(400, 404))
def put_note(run_id: IdPath, data: NoteIn, session: WriteSessionDep, access: Needs(EDITOR, "run")):
    """Replace the run's note (the whole text; "" removes it)."""
    return _out(store.set_note(session, access.scope, run_id, data.text))
