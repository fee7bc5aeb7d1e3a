"""The project overview (GET /projects/{id}/overview, the project's landing page): how many
runs each status holds, the best runs of each optimizer by one metric, the newest detector
flags and the sweeps with their verdicts.

It answers "Lion or AdamW, across seeds and settings?" at a glance, so it reads only what is
already summarised (metric_summaries, not points) and costs a fixed number of statements
whatever the project's size: the counts, the logged keys, the ranking (one window query),
the flags, and the sweep reports for a bounded page of sweeps (services/sweep_report, the
sweep page's own code, batched).
"""

from __future__ import annotations

import math
import re

from sqlalchemy.orm import Session

from lionlab import known_keys, lifecycle
from lionlab.lifecycle import RunStatus
from lionlab_server import schemas
from lionlab_server.parameters import params_of
from lionlab_server.services.sweep_report import sweep_reports
from lionlab_server.store import overview as store
from lionlab_server.store import projects
from lionlab_server.store import sweeps as sweep_store
from lionlab_server.store.overview import Mode
from lionlab_server.store.scope import Scope

# Words of a key whose larger values are better; any other key (losses, perplexity, error
# rates, norms) ranks smallest first.
HIGHER_IS_BETTER = frozenset(
    {"acc", "accuracy", "f1", "bleu", "rouge", "auc", "reward", "precision", "recall"}
    | {"top1", "top5", "score", "distinct"}
)


def default_metric(logged: dict[str, int]) -> str | None:
    """The metric the overview ranks by when none is asked for, from key -> runs logging it.

    An eval loss first (`known_keys.EVAL_LOSS`: what a Lion/AdamW comparison should be
    judged on), else a train loss (`known_keys.LOSS`): within each family the name logged by
    the most runs, ties to the family's order (eval_loss before val_loss, train_loss before
    loss). A project logging neither ranks by the key most runs logged (ties: by name);
    None when nothing was logged.
    """
    for family in (known_keys.EVAL_LOSS, known_keys.LOSS):
        present = [k for k in family if k in logged]
        if present:
            return max(present, key=lambda k: logged[k])  # max keeps the first of equals
    if not logged:
        return None
    return min(logged, key=lambda k: (-logged[k], k))


def default_mode(key: str) -> Mode:
    """max for keys that read as higher-is-better (accuracy, f1, reward ...), else min."""
    words = re.split(r"[^a-z0-9]+", key.lower())
    return "max" if any(w in HIGHER_IS_BETTER for w in words) else "min"


def _lr(run: store.RankedRun) -> float | None:
    """The lr as the runs table shows it: the config's `lr` over the job spec's."""
    lr = params_of(run.optimizer, run.job, run.config).get("lr")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr):
        return None
    return float(lr)


def _optimizers(
    counts: dict[tuple[str, str | None], int], ranked: list[store.RankedRun]
) -> list[schemas.OptimizerBest]:
    runs: dict[str | None, int] = {}
    for (_, optimizer), n in counts.items():
        runs[optimizer] = runs.get(optimizer, 0) + n
    best: dict[str | None, list[store.RankedRun]] = {o: [] for o in runs}
    for r in ranked:
        best.setdefault(r.optimizer, []).append(r)
    order = sorted(runs, key=lambda o: (o is None, o or ""))
    return [
        schemas.OptimizerBest(
            optimizer=o,
            runs=runs[o],
            ranked=best[o][0].ranked if best[o] else 0,
            best=[
                schemas.OverviewRun(
                    id=r.id,
                    name=r.name,
                    status=RunStatus(r.status),
                    value=r.value,
                    last=float("nan") if r.last is None and r.last_step is not None else r.last,
                    last_step=r.last_step,
                    lr=_lr(r),
                )
                for r in best[o]
            ],
        )
        for o in order
    ]


def _sweeps(session: Session, project_id: int, limit: int) -> tuple[list, int]:
    rows, total = sweep_store.project_sweeps(session, project_id, limit)
    out = []
    for report in sweep_reports(session, rows):
        s, a = report.sweep, report.analysis
        out.append(
            schemas.OverviewSweep(
                id=s.id,
                name=s.name,
                status=s.status,
                created_at=s.created_at,
                finished_at=s.finished_at,
                trials_total=s.trials_total,
                counts=s.counts,
                baseline=a.baseline,
                challenger=a.challenger,
                pending_trials=a.pending_trials,
                verdict=None if a.verdict is None else a.verdict.to_dict(),
            )
        )
    return out, total


def project_overview(
    session: Session,
    scope: Scope,
    project_id: int,
    metric: str | None,
    mode: Mode | None,
    best: int,
    flags: int,
    sweeps: int,
) -> schemas.ProjectOverview:
    """The overview of a project the caller may see (NotFound otherwise)."""
    project = projects.get_project(session, scope, project_id)
    counts = store.run_counts(session, project_id)
    logged = store.logged_keys(session, project_id)
    key = metric if metric is not None else default_metric(logged)
    mode = mode or (default_mode(key) if key else "min")
    ranked = store.best_runs(session, project_id, key, mode, best) if key else []
    recent = store.recent_flags(session, project_id, flags)
    sweep_items, sweeps_total = _sweeps(session, project_id, sweeps)
    by_status = {s: 0 for s in lifecycle.ORDER}
    for (status, _), n in counts.items():
        by_status[RunStatus(status)] += n
    return schemas.ProjectOverview(
        project=project,
        runs_total=sum(counts.values()),
        status_counts=by_status,
        metric=key,
        mode=mode,
        metric_keys=dict(sorted(logged.items())),
        optimizers=_optimizers(counts, ranked),
        flags=[
            schemas.OverviewFlag.model_validate(f, from_attributes=True)  # its total left out
            for f in recent
        ],
        flags_total=recent[0].total if recent else 0,
        sweeps=sweep_items,
        sweeps_total=sweeps_total,
    )
