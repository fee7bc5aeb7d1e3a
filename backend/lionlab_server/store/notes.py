"""Run notes: one markdown text per run, with who last wrote it and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lionlab_server.models import RunNote, utcnow
from lionlab_server.store import audit
from lionlab_server.store.dialect import dialect_insert
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import caller_name


@dataclass(frozen=True)
class Note:
    run_id: int
    text: str  # "" when the run has no note
    updated_at: datetime | None = None
    updated_by: str | None = None


def _out(row: RunNote) -> Note:
    return Note(row.run_id, row.text, row.updated_at, row.updated_by)


def get_note(session: Session, scope: Scope, run_id: int) -> Note:
    """The run's note (empty when none); NotFound when the run is outside `scope`."""
    visible_run(session, scope, run_id)
    row = session.get(RunNote, run_id)
    return Note(run_id, "") if row is None else _out(row)


def set_note(session: Session, scope: Scope, run_id: int, text: str) -> Note:
    """Replace the run's note, recording the editor; empty text removes it."""
    run = visible_run(session, scope, run_id)
    audit.record(
        session, scope, "note.edited", "run", run_id, run.project_id, {"chars": len(text.strip())}
    )
    if not text.strip():
        session.execute(delete(RunNote).where(RunNote.run_id == run_id))
        return Note(run_id, "")
    values = {"text": text, "updated_at": utcnow(), "updated_by": caller_name(session, scope)}
    insert = dialect_insert(session)(RunNote).values(run_id=run_id, **values)
    session.execute(insert.on_conflict_do_update(index_elements=[RunNote.run_id], set_=values))
    session.expire_all()  # the upsert bypassed the identity map
    return _out(session.get(RunNote, run_id))


def notes_of_runs(session: Session, run_ids: list[int]) -> dict[int, str]:
    """Texts of the runs' notes, by run id (runs without one are absent)."""
    if not run_ids:
        return {}
    query = select(RunNote.run_id, RunNote.text).where(RunNote.run_id.in_(run_ids))
    return {run_id: text for run_id, text in session.execute(query)}
