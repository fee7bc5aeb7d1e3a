"""The runs filter grammar (lionlab_server/search.py) compiled to SQL conditions and ORDER BY
terms on `runs`: the runs list, the dashboard, the export and MLflow's runs/search page in
the database, never by reading every run into Python.

Each clause is an EXISTS on the run's row in `run_params`, `metric_summaries` (its key found
by name in `metric_keys`) or `run_key_tags`, or a comparison of a column expression; a run
lacking the value does not match, as in MLflow. What differs between the dialects is kept in
two constructs compiled per dialect (`_Like`, `_EpochMs`), so a condition needs no session.
NaN: SQLite stores it as NULL (models.py); Postgres stores it and orders it above every
number, with NaN = NaN. IEEE semantics are kept on both: a NaN compares false, except `!=`.
"""

from __future__ import annotations

import operator

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Double,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement as _Element

from lionlab.lifecycle import RunStatus
from lionlab_server.models import MetricKey, MetricSummary, Run, RunKeyTag, RunParam, RunTag
from lionlab_server.search import Clause, OrderBy

INF = float("inf")
COMPARE = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
SUMMARY_COLUMNS = {"last": "last_value", "min": "min_value", "max": "max_value"}
# Synthesized MLflow tags (mlflow/protocol.run_tags); mlflow.user and lionlab.labels yield
# to nothing / a stored tag as there.
RUN_NAME_TAG, STATUS_TAG, USER_TAG, LABELS_TAG = (
    "mlflow.runName", "lionlab.status", "mlflow.user", "lionlab.labels",
)  # fmt: skip
# LionLab status -> MLflow's name of it (the MLflow route's attributes.status).
TO_MLFLOW = {
    RunStatus.QUEUED.value: "SCHEDULED",
    RunStatus.RUNNING.value: "RUNNING",
    RunStatus.SUCCEEDED.value: "FINISHED",
    RunStatus.STOPPED_EARLY.value: "FINISHED",
    RunStatus.FAILED.value: "FAILED",
    RunStatus.DIVERGED.value: "FAILED",
    RunStatus.LOST.value: "FAILED",
    RunStatus.CANCELLED.value: "KILLED",
}


# --- the two dialect-specific constructs -----------------------------------------------------


class _Like(_Element):
    """`expr LIKE pattern` (case-sensitive) or ILIKE, with MLflow's pattern rules: % and _ are
    wildcards, every other character is itself (the Python `search._like`). Postgres: LIKE /
    ILIKE with an escape character. SQLite's LIKE ignores ASCII case and a per-connection
    PRAGMA case_sensitive_like would change it for every other query too, so LIKE becomes
    GLOB (case-sensitive, whole string; * ? [ escaped as [*] [?] [[]) and ILIKE SQLite's LIKE
    (which folds ASCII letters only)."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, expr: ColumnElement, pattern: str, ignore_case: bool) -> None:
        self.expr, self.pattern, self.ignore_case = expr, pattern, ignore_case


def _escaped(pattern: str) -> str:
    return pattern.replace("\\", "\\\\")


@compiles(_Like, "postgresql")
def _like_postgres(element: _Like, compiler, **kw) -> str:
    op = "ILIKE" if element.ignore_case else "LIKE"
    pattern = compiler.process(literal(_escaped(element.pattern)), **kw)
    return f"({compiler.process(element.expr, **kw)} {op} {pattern} ESCAPE '\\')"


@compiles(_Like)
def _like_sqlite(element: _Like, compiler, **kw) -> str:
    expr = compiler.process(element.expr, **kw)
    if element.ignore_case:
        pattern = compiler.process(literal(_escaped(element.pattern)), **kw)
        return f"({expr} LIKE {pattern} ESCAPE '\\')"
    glob = "".join(
        "*" if c == "%" else "?" if c == "_" else f"[{c}]" if c in "*?[" else c
        for c in element.pattern
    )
    return f"({expr} GLOB {compiler.process(literal(glob), **kw)})"


class _EpochMs(_Element):
    """A timestamp column as whole milliseconds since the Unix epoch, rounded (MLflow's times;
    mlflow/protocol.ms). SQLite keeps the text a julianday() reads, to about 50 µs."""

    type = Double()
    inherit_cache = False

    def __init__(self, expr: ColumnElement) -> None:
        self.expr = expr


@compiles(_EpochMs, "postgresql")
def _epoch_postgres(element: _EpochMs, compiler, **kw) -> str:
    expr = compiler.process(element.expr, **kw)
    return f"CAST(round(EXTRACT(EPOCH FROM {expr}) * 1000) AS DOUBLE PRECISION)"


@compiles(_EpochMs)
def _epoch_sqlite(element: _EpochMs, compiler, **kw) -> str:
    expr = compiler.process(element.expr, **kw)
    return f"round((julianday({expr}) - 2440587.5) * 86400000.0)"


# --- what a clause names -------------------------------------------------------------------


def _start() -> ColumnElement:
    return _EpochMs(func.coalesce(Run.started_at, Run.created_at))


def attribute(key: str, mlflow: bool) -> ColumnElement:
    """The attribute as a column expression (NULL where the run has none). On the MLflow
    route `status` is MLflow's name of the run's status and `user_id` is never NULL."""
    if key == "run_id":
        return cast(Run.id, String)
    if key == "run_name":
        return Run.name
    if key == "status":
        return case(TO_MLFLOW, value=Run.status, else_="FAILED") if mlflow else Run.status
    if key == "optimizer":
        return Run.optimizer
    if key == "created_by":
        return Run.created_by
    if key == "user_id":
        return func.coalesce(Run.created_by, "")
    if key == "lifecycle_stage":
        return case((Run.deleted_at.is_(None), "active"), else_="deleted")
    if key == "artifact_uri":
        return (
            literal("mlflow-artifacts:/") + cast(Run.project_id, String) + "/"
            + cast(Run.id, String) + "/artifacts"
        )  # fmt: skip
    if key == "start_time":
        return _start()
    if key == "end_time":
        return _EpochMs(Run.finished_at)
    if key == "duration":
        return _EpochMs(Run.finished_at) - _start()
    raise ValueError(f"unknown attribute {key!r}")  # the parser lets none other through


def _key_tag(key: str) -> ColumnElement:
    return (
        select(RunKeyTag.value)
        .where(RunKeyTag.run_id == Run.id, RunKeyTag.key == key)
        .scalar_subquery()
    )


class _Labels(_Element):
    """The run's labels joined by commas in the order run_records reads them (ORDER BY tag),
    NULL when it has none: string_agg on Postgres, group_concat over a sorted list on SQLite."""

    type = String()
    inherit_cache = False


@compiles(_Labels, "postgresql")
def _labels_postgres(element: _Labels, compiler, **kw) -> str:
    joined = func.string_agg(RunTag.tag, aggregate_order_by(literal(","), RunTag.tag))
    query = select(joined).where(RunTag.run_id == Run.id).scalar_subquery()
    return compiler.process(query, **kw)


@compiles(_Labels)
def _labels_sqlite(element: _Labels, compiler, **kw) -> str:
    ordered = (
        select(RunTag.tag)
        .where(RunTag.run_id == Run.id)
        .order_by(RunTag.tag)
        .correlate(Run)  # a subquery in FROM correlates only when told (SQLite allows it)
        .subquery()
    )
    query = select(func.group_concat(ordered.c.tag, ",")).scalar_subquery()
    return compiler.process(query, **kw)


def tag(key: str) -> ColumnElement:
    """The run's MLflow tag `key` (mlflow/protocol.run_tags): a key/value tag, or one of the
    synthesized ones (its name, creator, LionLab status and labels)."""
    if key == RUN_NAME_TAG:
        return Run.name
    if key == STATUS_TAG:
        return Run.status
    if key == USER_TAG:
        return func.coalesce(_key_tag(key), Run.created_by)
    if key == LABELS_TAG:
        return func.coalesce(_Labels(), _key_tag(key))
    return _key_tag(key)


def _summary(key: str):
    key_id = select(MetricKey.id).where(MetricKey.name == key).scalar_subquery()
    return and_(MetricSummary.run_id == Run.id, MetricSummary.key_id == key_id,
                MetricSummary.count > 0)  # fmt: skip


def _param(key: str):
    return and_(RunParam.run_id == Run.id, RunParam.key == key)


# --- conditions ----------------------------------------------------------------------------


def _string_condition(expr: ColumnElement, op: str, value) -> ColumnElement[bool]:
    """A string comparison; NULL (missing) is never true, NOT IN and != included."""
    if op == "LIKE":
        return _Like(expr, value, ignore_case=False)
    if op == "ILIKE":
        return _Like(expr, value, ignore_case=True)
    if op == "IN":
        return expr.in_(value)
    if op == "NOT IN":
        return and_(expr.is_not(None), expr.not_in(value))
    return and_(expr.is_not(None), COMPARE[op](expr, value))


def _metric_condition(clause: Clause) -> ColumnElement[bool]:
    column = getattr(MetricSummary, SUMMARY_COLUMNS[clause.summary])
    op, value = clause.op, clause.value
    if clause.summary != "last":  # min/max: NULL when no value is a number, never NaN
        test = COMPARE[op](column, value)
    elif op == "!=":  # a NaN differs from every number: NULL on SQLite, NaN on Postgres
        test = or_(column.is_(None), column != value)
    else:  # `<= inf` is false for a Postgres NaN (ordered above every number) and for NULL
        test = and_(COMPARE[op](column, value), column <= INF)
    return exists().where(_summary(clause.key), test)


def condition(clause: Clause, mlflow: bool = False) -> ColumnElement[bool]:
    """The SQL condition a run meets when it matches `clause` (`search.clause_matches`)."""
    if clause.kind == "metric":
        return _metric_condition(clause)
    if clause.kind == "param":
        if clause.numeric:  # a JSON number; NULL for every other param
            return exists().where(
                _param(clause.key), COMPARE[clause.op](RunParam.number, clause.value)
            )
        test = _string_condition(RunParam.text, clause.op, clause.value)
        return exists().where(_param(clause.key), test)
    if clause.kind == "tag":
        if clause.key in (RUN_NAME_TAG, STATUS_TAG, USER_TAG, LABELS_TAG):
            return _string_condition(tag(clause.key), clause.op, clause.value)
        test = _string_condition(RunKeyTag.value, clause.op, clause.value)
        return exists().where(RunKeyTag.run_id == Run.id, RunKeyTag.key == clause.key, test)
    expr = attribute(clause.key, mlflow)
    if clause.numeric:
        return and_(expr.is_not(None), COMPARE[clause.op](expr, clause.value))
    return _string_condition(expr, clause.op, clause.value)


def conditions(clauses: tuple[Clause, ...] | list[Clause], mlflow: bool = False) -> list:
    return [condition(c, mlflow) for c in clauses]


# --- order -----------------------------------------------------------------------------


def order_terms(order: list[OrderBy], mlflow: bool, postgres: bool) -> list:
    """ORDER BY terms for `order` (`search.sort_runs`): each value's presence first (missing
    values last either way, a NaN metric after every number and before missing ones), then
    the value."""
    terms: list = []
    for ob in order:
        if ob.kind == "metric":
            column = getattr(MetricSummary, SUMMARY_COLUMNS[ob.summary])
            value = select(column).where(_summary(ob.key)).scalar_subquery()
            present = exists().where(_summary(ob.key))
            if ob.summary == "last":
                nan = or_(value.is_(None), value == float("nan"))
                rank = case((not_(present), 2), (nan, 1), else_=0)
            else:
                rank = case((value.is_(None), 2), else_=0)
        else:
            if ob.kind == "param":
                value = select(RunParam.text).where(_param(ob.key)).scalar_subquery()
            elif ob.kind == "tag":
                value = tag(ob.key)
            else:
                value = attribute(ob.key, mlflow)
            rank = case((value.is_(None), 1), else_=0)
            if postgres and not ob.numeric:  # code-point order, Python's and SQLite's
                value = value.collate("C")
        terms += [rank, value.asc() if ob.ascending else value.desc()]
    return terms


def newest_first() -> list:
    """MLflow's default order, and every order's last resort: start time, then id, newest
    first."""
    return [_start().desc(), Run.id.desc()]
