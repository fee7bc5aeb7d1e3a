"""Detector flags and the per-run detector state they come from."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lionlab_server import schemas
from lionlab_server.models import DetectorState, Flag, utcnow
from lionlab_server.store.dialect import dialect_insert


def lock_state(session: Session, run_id: int) -> dict | None:
    """The run's detector state (None before its first batch), locked until commit."""
    stmt = dialect_insert(session)(DetectorState).values(
        run_id=run_id, state=None, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id"], set_={"updated_at": stmt.excluded.updated_at}
    )
    return session.execute(stmt.returning(DetectorState.state)).scalar_one()


def save_state(session: Session, run_id: int, state: dict) -> None:
    # One UPDATE (lock_state made the row): loading it first would decode its JSON (~20 kB
    # for a long run) only to replace it, inside the write lock every batch waits for.
    session.execute(
        update(DetectorState)
        .where(DetectorState.run_id == run_id)
        .values(state=state, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def add_flags(session: Session, run_id: int, flags: list[dict]) -> None:
    """Store flags; one already stored (same run, kind, start step) is kept as it is."""
    if flags:
        stmt = dialect_insert(session)(Flag).on_conflict_do_nothing(
            index_elements=["run_id", "kind", "start_step"]
        )
        now = utcnow()
        session.execute(stmt, [{**f, "run_id": run_id, "created_at": now} for f in flags])


def list_flags(session: Session, run_id: int) -> list[schemas.FlagOut]:
    rows = session.scalars(select(Flag).where(Flag.run_id == run_id).order_by(Flag.step, Flag.id))
    return [schemas.FlagOut.model_validate(r, from_attributes=True) for r in rows]
