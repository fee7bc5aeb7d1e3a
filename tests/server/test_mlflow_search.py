"""MLflow's search_runs grammar: what parses, what is refused with a clear message, and
which runs a filter keeps, in which order."""

from __future__ import annotations

import math

import pytest

from lionlab_server.search import (
    BadSearch,
    Clause,
    RunView,
    matches,
    parse_filter,
    parse_order_by,
    sort_runs,
)


def test_clauses_of_every_kind_and_comparator():
    clauses = parse_filter(
        "metrics.loss <= 1.5e0 and params.optimizer = 'lion' AND tags.`team name` ILIKE '%Vision%'"
        " and attributes.status IN ('FINISHED', \"RUNNING\") and metric.eval.loss > -2"
        " and attr.run_name NOT IN ('a') and tags.\"x y\" != 'it''s' and run.created >= 10"
    )
    assert clauses == [
        Clause("metric", "loss", "<=", 1.5),
        Clause("param", "optimizer", "=", "lion"),
        Clause("tag", "team name", "ILIKE", "%Vision%"),
        Clause("attribute", "status", "IN", ("FINISHED", "RUNNING")),
        Clause("metric", "eval.loss", ">", -2.0),
        Clause("attribute", "run_name", "NOT IN", ("a",)),
        Clause("tag", "x y", "!=", "it's"),
        Clause("attribute", "start_time", ">=", 10.0),
    ]
    assert parse_filter("") == [] and parse_filter(None) == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("metrics.loss < 'a'", "compares with a number"),
        ("params.lr > '0.1'", "does not apply"),
        ("params.lr = lion", "quoted string"),
        ("params.lr LIKE 0.1", "does not apply"),
        ("min(params.lr) < 1", "takes a metric"),
        ("max(metrics.loss < 1", "not closed"),
        ("metrics.loss < 1 or metrics.loss > 2", "OR is not supported"),
        ("foo.bar = 'x'", "unknown entity type"),
        ("attributes.colour = 'red'", "unknown attribute"),
        ("metrics.loss <", "ends in the middle"),
        ("metrics.loss ~ 1", "unexpected character"),
        ("loss < 1", "expected an identifier"),
        ("tags.a IN 'x'", "parenthesised list"),
        ("metrics.loss LIKE 1", "does not apply"),
    ],
)
def test_bad_filters_say_why(text, says):
    with pytest.raises(BadSearch, match=says):
        parse_filter(text)


RUNS = [
    RunView({"loss": 1.0}, {"opt": "lion"}, {"team": "Vision"}, {"run_id": "a", "start_time": 3}),
    RunView({"loss": 2.0}, {"opt": "adamw"}, {}, {"run_id": "b", "start_time": 1}),
    RunView({"loss": math.nan}, {"opt": "lion"}, {"team": "nlp"}, {"run_id": "c", "start_time": 2}),
    RunView({}, {}, {}, {"run_id": "d", "start_time": 4}),
]


def ids(filter_text: str) -> list[str]:
    clauses = parse_filter(filter_text)
    return [r.attributes["run_id"] for r in RUNS if matches(clauses, r)]


def test_filters_keep_the_runs_mlflow_keeps():
    assert ids("metrics.loss < 1.5") == ["a"]  # NaN and a missing metric never compare true
    assert ids("metrics.loss != 1") == ["b", "c"]
    assert ids("params.opt = 'lion' and metrics.loss >= 0") == ["a"]
    assert ids("tags.team LIKE 'V%'") == ["a"]
    assert ids("tags.team LIKE 'v%'") == []
    assert ids("tags.team ILIKE 'v_sion'") == ["a"]
    assert ids("tags.team != 'nlp'") == ["a"]  # a run without the tag does not match !=
    assert ids("attributes.run_id IN ('b', 'd')") == ["b", "d"]
    assert ids("attributes.start_time > 2") == ["a", "d"]


def test_order_by_with_missing_and_nan_values_last():
    order = parse_order_by(["metrics.loss DESC"])
    assert [r.attributes["run_id"] for r in sort_runs(RUNS, order)] == ["b", "a", "c", "d"]
    order = parse_order_by(["params.opt", "attributes.start_time DESC"])
    assert [r.attributes["run_id"] for r in sort_runs(RUNS, order)] == ["b", "a", "c", "d"]
    with pytest.raises(BadSearch, match="ASC or DESC"):
        parse_order_by(["metrics.loss UP"])
