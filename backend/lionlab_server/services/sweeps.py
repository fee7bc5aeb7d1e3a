"""Sweeps on the server: create from a spec, schedule trials within max_parallel, feed eval
losses to ASHA, and pass its stops on to the workers.

Trials become runs only when a slot is free (`schedule`), so a sweep never has more than
`limits.max_parallel` trials queued or running, and never more runs than trials (the
(sweep, trial) unique key). Scheduling runs in the transaction that ends one of its runs:
through the API (finish, cancel, a PATCH of the status) or the reaper (a lost worker).
"""

from __future__ import annotations

import math
import weakref

from sqlalchemy.orm import Session

from lionlab.lifecycle import RunStatus
from lionlab.sweeps import AshaDecider, expand, parse_spec, parse_spec_text
from lionlab_server import schemas
from lionlab_server.models import Run, Sweep, utcnow
from lionlab_server.services import webhooks
from lionlab_server.store import lifecycle
from lionlab_server.store import sweeps as store
from lionlab_server.store.metrics import KeyPoints
from lionlab_server.store.scope import SERVER as ADMIN  # the server's own scheduling rounds
from lionlab_server.store.scope import Scope

EVAL_KEY = "eval_loss"


def create_sweep(session: Session, scope: Scope, data: schemas.SweepCreate) -> schemas.Sweep:
    """Validate and expand the spec, store the sweep, and queue its first trials.

    SpecError (a 422 naming each field at fault) leaves nothing stored."""
    spec = parse_spec_text(data.spec) if isinstance(data.spec, str) else parse_spec(data.spec)
    trials = expand(spec)
    asha = AshaDecider.from_spec(spec, trials).state_dict() if spec.asha else None
    row = store.add_sweep(
        session,
        scope,
        data.project_id,
        spec.model_dump(mode="json"),
        [t.model_dump(mode="json") for t in trials],
        asha,
    )
    schedule(session, row.id)
    return store.sweep_out(row, store.trial_runs(session, row.id))


def schedule(session: Session, sweep_id: int) -> list[int]:
    """Create runs for the next trials while fewer than max_parallel are queued or running;
    mark the sweep finished when every trial has ended. Returns the new run ids."""
    sweep = store.sweep_row(session, ADMIN, sweep_id, lock=True)
    if sweep.status != "running":
        return []
    runs = store.trial_runs(session, sweep_id)
    active = sum(r.status in store.ACTIVE for r in runs.values())
    waiting = [t for t in sweep.trials if t["index"] not in runs]
    new = store.add_trial_runs(session, sweep, waiting[: max(0, sweep.max_parallel - active)])
    if not new and active == 0 and not waiting:
        sweep.status, sweep.finished_at = "finished", utcnow()
        webhooks.sweep_finished(session, sweep)
    return new


# engine -> {sweep id -> its ASHA rung steps}; rungs are fixed when a sweep is created
_RUNGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rungs(session: Session, sweep_id: int) -> frozenset[int]:
    cache = _RUNGS.setdefault(session.get_bind(), {})
    if sweep_id not in cache:
        if len(cache) > 10_000:
            cache.clear()
        state = store.sweep_row(session, ADMIN, sweep_id).asha_state or {}
        cache[sweep_id] = frozenset(state.get("rungs", ()))
    return cache[sweep_id]


def _asha(sweep: Sweep) -> AshaDecider | None:
    return None if sweep.asha_state is None else AshaDecider.from_state(sweep.asha_state)


def feed_eval(session: Session, run: Run, batch: list[KeyPoints]) -> None:
    """Report a trial's eval losses at ASHA rungs; a stop decision asks its worker to stop.

    Runs in the ingestion transaction. The sweep row is read and locked only when the batch
    holds an eval point at a rung, so other batches cost a dictionary lookup here."""
    if run.sweep_id is None:
        return
    points = next((kp for kp in batch if kp.name == EVAL_KEY), None)
    if points is None:
        return
    rungs = _rungs(session, run.sweep_id)
    steps, values = points.steps.tolist(), points.values.tolist()
    at_rungs = [(s, v) for s, v in zip(steps, values, strict=True) if s in rungs]
    if not at_rungs:
        return
    sweep = store.sweep_row(session, ADMIN, run.sweep_id, lock=True)
    decider = _asha(sweep)
    stop = None
    for step, value in at_rungs:
        decision = decider.report(run.trial_index, step, value)
        stop = stop or (decision if decision is not None and decision.stopped else None)
    sweep.asha_state = decider.state_dict()
    if stop is not None and math.isfinite(stop.value):
        lifecycle.ask_stop(session, run.id, RunStatus.STOPPED_EARLY)


def run_ended(session: Session, run_id: int) -> list[int]:
    """After a run ended (through the API or the reaper): queue its webhook event; for a
    trial, record a divergence with ASHA, then schedule its sweep."""
    run = session.get(Run, run_id)
    if run is not None:
        webhooks.run_ended(session, run)
    if run is None or run.sweep_id is None:
        return []
    if run.status == RunStatus.DIVERGED.value:
        sweep = store.sweep_row(session, ADMIN, run.sweep_id, lock=True)
        decider = _asha(sweep)
        if decider is not None:
            step = store.last_steps(session, [run_id], "train_loss").get(run_id, 0)
            decider.diverged(run.trial_index, step)
            sweep.asha_state = decider.state_dict()
    return schedule(session, run.sweep_id)


def cancel_sweep(session: Session, scope: Scope, sweep_id: int) -> schemas.Sweep:
    """Stop the sweep: no new trials; queued ones end now, running ones at their next
    heartbeat. Every metric logged so far is kept."""
    sweep = store.sweep_row(session, scope, sweep_id, lock=True)
    if sweep.status == "running":
        sweep.status, sweep.finished_at = "cancelled", utcnow()
    runs = store.trial_runs(session, sweep_id)
    for run in runs.values():
        if run.status in store.ACTIVE:
            lifecycle.request_stop(session, scope, run.run_id, RunStatus.CANCELLED)
    return store.sweep_out(sweep, store.trial_runs(session, sweep_id))


def get_sweep(session: Session, scope: Scope, sweep_id: int) -> schemas.Sweep:
    row = store.sweep_row(session, scope, sweep_id)
    return store.sweep_out(row, store.trial_runs(session, sweep_id))
