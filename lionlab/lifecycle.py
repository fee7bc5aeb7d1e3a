"""Run statuses and who may move a run from one to another: the one vocabulary of the run
lifecycle, shared by the server (its store turns each transition into a conditional UPDATE),
the worker, the SDK and the dashboard (served to it as the ES module /lifecycle.js).

Two kinds of run:
- a job (submitted with a job spec) is moved only by its worker (claim, finish), by a user's
  cancel, and by the server's reaper (a silent worker's run is requeued or ended);
- a script run (logged by a user's own code through the SDK) is moved by that code through
  the API: it ends its own run.
"""

from __future__ import annotations

import enum


class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DIVERGED = "diverged"
    STOPPED_EARLY = "stopped_early"  # a sweep's early-termination rule (ASHA) stopped it
    LOST = "lost"  # its worker went silent more often than LIONLAB_MAX_ATTEMPTS allows

    @property
    def finished(self) -> bool:
        return self not in ACTIVE

    @property
    def label(self) -> str:
        return LABELS[self]


class Actor(str, enum.Enum):
    """Who asks for a transition."""

    WORKER = "worker"  # the worker holding the job's current attempt
    USER = "user"  # a person or a script, through the API or the dashboard
    REAPER = "reaper"  # the server, about a job whose worker stopped answering


ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
# What a stop request may ask for; the worker ends the run with it at its next heartbeat.
STOP_REASONS = frozenset({RunStatus.CANCELLED, RunStatus.DIVERGED, RunStatus.STOPPED_EARLY})
WORKER_ENDS = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED} | STOP_REASONS)
SCRIPT_ENDS = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.DIVERGED}
)

LABELS = {
    RunStatus.QUEUED: "Queued",
    RunStatus.RUNNING: "Running",
    RunStatus.SUCCEEDED: "Succeeded",
    RunStatus.FAILED: "Failed",
    RunStatus.CANCELLED: "Cancelled",
    RunStatus.DIVERGED: "Diverged",
    RunStatus.STOPPED_EARLY: "Stopped early",
    RunStatus.LOST: "Lost",
}
# Display order (tables, filter chips, counts): what needs attention first.
ORDER = (
    RunStatus.RUNNING,
    RunStatus.QUEUED,
    RunStatus.SUCCEEDED,
    RunStatus.STOPPED_EARLY,
    RunStatus.DIVERGED,
    RunStatus.FAILED,
    RunStatus.LOST,
    RunStatus.CANCELLED,
)

Q, R = RunStatus.QUEUED, RunStatus.RUNNING
# (is a job, from, to) -> who may make that move.
TRANSITIONS: dict[tuple[bool, RunStatus, RunStatus], frozenset[Actor]] = {
    (True, Q, R): frozenset({Actor.WORKER}),  # claim: the attempt number goes up by one
    (True, Q, RunStatus.CANCELLED): frozenset({Actor.USER}),
    (True, R, Q): frozenset({Actor.REAPER}),  # requeued, resumes from its checkpoint
    (True, R, RunStatus.LOST): frozenset({Actor.REAPER}),
    **{(True, R, s): frozenset({Actor.WORKER}) for s in WORKER_ENDS - STOP_REASONS},
    # a stop reason ends a job through its worker, or through the reaper if it went silent
    **{(True, R, s): frozenset({Actor.WORKER, Actor.REAPER}) for s in STOP_REASONS},
    (False, Q, R): frozenset({Actor.USER}),
    (False, Q, RunStatus.CANCELLED): frozenset({Actor.USER}),
    **{(False, R, s): frozenset({Actor.USER}) for s in SCRIPT_ENDS},
}


def allowed(is_job: bool, source: RunStatus, target: RunStatus, actor: Actor) -> bool:
    return actor in TRANSITIONS.get((is_job, source, target), frozenset())


def sources(is_job: bool, target: RunStatus, actor: Actor) -> list[RunStatus]:
    """Statuses from which `actor` may move a run of this kind to `target`."""
    return [s for s in RunStatus if allowed(is_job, s, target, actor)]


def describe() -> dict:
    """The lifecycle as JSON, for the dashboard and API clients."""
    return {
        "statuses": [{"name": s.value, "label": s.label, "active": s in ACTIVE} for s in ORDER],
        "stop_reasons": sorted(s.value for s in STOP_REASONS),
        "transitions": [
            {"job": job, "from": a.value, "to": b.value, "by": sorted(x.value for x in who)}
            for (job, a, b), who in TRANSITIONS.items()
        ],
    }
