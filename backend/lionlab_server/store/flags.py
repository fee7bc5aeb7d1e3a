"""Detector flags and the per-run detector state they come from."""

from __future__ import annotations

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from lionlab_server import schemas
from lionlab_server.models import DetectorState, Flag, LayerDetectorState, UTCDateTime, utcnow
from lionlab_server.store.dialect import dialect_insert


# Plain SQL text, the same on both backends, built once: it runs in every batch's write
# transaction (the summaries' lock in store/metrics.py is written the same way).
def _lock_sql(model):
    return (
        text(
            f"INSERT INTO {model.__tablename__} (run_id, state, updated_at) "
            "VALUES (:run_id, NULL, :now) "
            "ON CONFLICT (run_id) DO UPDATE SET updated_at = excluded.updated_at RETURNING state"
        )
        .bindparams(bindparam("now", type_=UTCDateTime))
        .columns(model.__table__.c.state)
    )


_LOCK = {model: _lock_sql(model) for model in (DetectorState, LayerDetectorState)}


def _lock(session: Session, model, run_id: int) -> dict | None:
    return session.execute(_LOCK[model], {"run_id": run_id, "now": utcnow()}).scalar_one()


def _save(session: Session, model, run_id: int, state: dict) -> None:
    # One UPDATE (the lock made the row): loading it first would decode its JSON (~20 kB
    # for a long run) only to replace it, inside the write lock every batch waits for.
    session.execute(
        update(model)
        .where(model.run_id == run_id)
        .values(state=state, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def lock_state(session: Session, run_id: int) -> dict | None:
    """The run's detector state (None before its first batch), locked until commit."""
    return _lock(session, DetectorState, run_id)


def save_state(session: Session, run_id: int, state: dict) -> None:
    _save(session, DetectorState, run_id, state)


def lock_layer_state(session: Session, run_id: int) -> dict | None:
    """The run's per-layer detector state (None before its first batch), locked."""
    return _lock(session, LayerDetectorState, run_id)


def save_layer_state(session: Session, run_id: int, state: dict) -> None:
    _save(session, LayerDetectorState, run_id, state)


def add_flags(session: Session, run_id: int, flags: list[dict]) -> None:
    """Store flags; one already stored (same run, kind, start step) is kept as it is."""
    if flags:
        stmt = dialect_insert(session)(Flag).on_conflict_do_nothing(
            index_elements=["run_id", "kind", "start_step"]
        )
        now = utcnow()
        session.execute(stmt, [{**f, "run_id": run_id, "created_at": now} for f in flags])


def list_flags(session: Session, run_id: int) -> list[schemas.FlagOut]:
    return flags_of_runs(session, [run_id])[run_id]


def flags_of_runs(session: Session, run_ids: list[int]) -> dict[int, list[schemas.FlagOut]]:
    """Each run's flags by step, in one query (the runs table asks for a page of runs)."""
    out: dict[int, list[schemas.FlagOut]] = {r: [] for r in run_ids}
    rows = session.scalars(
        select(Flag).where(Flag.run_id.in_(run_ids)).order_by(Flag.run_id, Flag.step, Flag.id)
    )
    for r in rows:
        out[r.run_id].append(schemas.FlagOut.model_validate(r, from_attributes=True))
    return out
