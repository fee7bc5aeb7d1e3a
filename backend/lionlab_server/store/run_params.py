"""`run_params`: each run's parameters as indexed rows, so a filter on params is an index
lookup rather than a read of every run's JSON.

The rows are the flat, dotted parameters the dashboard shows (`parameters.params_of`: the
optimizer, the job spec's hyper-parameters, the config flattened), plus each top-level config
key whose value is a non-empty object (MLflow's params are the config's top-level keys, and
flattening hides those), so `params.model` and `params.model.dim` both answer. They are
written in one place, a flush hook on every Session: whatever writes a run's config, job or
optimizer through the ORM (creation, PATCH, MLflow's log-param and log-batch, sweeps' trials,
importers) rewrites that run's rows in the same transaction, and no write path can forget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, event, insert, inspect
from sqlalchemy.orm import Session

from lionlab_server.models import Run, RunParam
from lionlab_server.parameters import params_of
from lionlab_server.store.mlflow import param_text

MAX_KEY = 250  # run_params.key; a longer dotted path is not searchable
WATCHED = ("optimizer", "job", "config")


def param_number(value: Any) -> float | None:
    """The value as a float when it is a JSON number (a bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond a double's range
        return None
    return number if math.isfinite(number) else None


def run_param_values(
    optimizer: str | None, job: Mapping[str, Any] | None, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Key -> value of each row a run with these columns has (see the module docstring)."""
    config = dict(config or {})
    out = params_of(optimizer, job, config)
    if out.get("optimizer") is None and config.get("optimizer", ...) is not None:
        out.pop("optimizer", None)  # no optimizer at all: no row, rather than "null"
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out[key] = value
    return {k: v for k, v in out.items() if 0 < len(k) <= MAX_KEY}


def param_rows(
    run_id: int,
    optimizer: str | None,
    job: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """The run_params rows of one run: its key, MLflow text and number."""
    return [
        {"run_id": run_id, "key": k, "text": param_text(v), "number": param_number(v)}
        for k, v in run_param_values(optimizer, job, config).items()
    ]


def write_params(connection: Connection, runs: Iterable[Run], replace: bool) -> None:
    """Write these runs' rows (`replace`: their old rows go first)."""
    runs = list(runs)
    if not runs:
        return
    if replace:
        ids = [r.id for r in runs]
        connection.execute(delete(RunParam).where(RunParam.run_id.in_(ids)))
    rows = [row for r in runs for row in param_rows(r.id, r.optimizer, r.job, r.config)]
    if rows:
        connection.execute(insert(RunParam), rows)


def _params_changed(run: Run) -> bool:
    attrs = inspect(run).attrs
    return any(attrs[name].history.has_changes() for name in WATCHED)


@event.listens_for(Session, "after_flush")
def _sync_run_params(session: Session, _flush_context) -> None:
    """After each flush (the attribute history still says what changed): new runs get their
    rows, runs whose config, job or optimizer changed get theirs rewritten."""
    new = [o for o in session.new if isinstance(o, Run)]
    changed = [o for o in session.dirty if isinstance(o, Run) and _params_changed(o)]
    if new or changed:
        connection = session.connection()
        write_params(connection, new, replace=False)
        write_params(connection, changed, replace=True)
