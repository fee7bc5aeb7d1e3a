"""The run view's charts: one chart per metric group, the data the browser draws each from
(series with NaN/Inf kept apart, flags with their steps, the layout), and the x axis by step
or time. The traces themselves are the browser's: tests/browser/test_run_page.py."""

import numpy as np
from support.figures import assert_plotly_equivalent

from lionlab_server.views.chart_data import x_axis
from lionlab_server.views.run_charts import assign_flags, plan_charts, run_chart


def test_standard_metrics_are_grouped_and_other_keys_get_a_chart_each():
    charts = plan_charts(["zeta", "eval_loss", "lr", "train_loss", "accuracy", "samples_per_s"])
    assert [(c.id, c.keys) for c in charts] == [
        ("loss", ("train_loss", "eval_loss")),
        ("lr", ("lr",)),
        ("samples_per_s", ("samples_per_s",)),
        ("key:accuracy", ("accuracy",)),
        ("key:zeta", ("zeta",)),
    ]


def test_a_chart_sends_each_keys_series_with_nonfinite_values_kept_apart(build):
    chart = plan_charts(["train_loss", "eval_loss"])[0]
    train = build.series("train_loss", [4.0, 3.0, np.nan, 2.0, np.inf])
    evals = build.series("eval_loss", [3.5, 2.5])
    body = run_chart(chart, [train, evals], [], x_axis("step", [train, evals]))
    assert (body["id"], body["title"]) == ("loss", "Loss")
    first, second = body["series"]
    assert [s["key"] for s in body["series"]] == ["train_loss", "eval_loss"]
    assert first["values"] == [4.0, 3.0, "NaN", 2.0, "Infinity"]  # as /api/v1/series sends
    assert first["steps"] == [0, 1, 2, 3, 4] and first["wall_time"][1] == build.t0 + 0.5
    assert (first["name"], first["raw_hover"]) == ("train_loss", True)
    assert first["color"] != second["color"]  # train and eval loss apart on one chart
    assert body["layout"]["showlegend"] is True
    assert_plotly_equivalent({"data": [], "layout": body["layout"]})


def test_flags_are_sent_with_their_steps_and_message(build):
    s = build.series("train_loss", np.linspace(3, 1, 500))
    chart = plan_charts(["train_loss"])[0]
    flags = [
        build.flag("loss_step", 100, 180, "warning", 1, "loss fell <fast>"),
        build.flag("divergence", 300, 300, "critical", 2, "NaN loss"),
    ]
    body = run_chart(chart, [s], flags, x_axis("step", [s]))
    assert body["flags"][0] == {
        "id": 1,
        "kind": "loss_step",
        "severity": "warning",
        "message": "loss fell <fast>",  # raw text: the browser escapes it for the hover
        "start_step": 100,
        "end_step": 180,
    }
    assert [(f["id"], f["start_step"], f["end_step"]) for f in body["flags"]][1] == (2, 300, 300)


def test_each_flag_goes_to_the_chart_of_its_metric(build):
    charts = plan_charts(["train_loss", "grad_norm", "lr"])
    flags = [
        build.flag("grad_norm_drift", 1, 2, flag_id=1),
        build.flag("loss_step", 3, 4, flag_id=2),
        build.flag("something_new", 5, 6, flag_id=3),
    ]
    placed = assign_flags(flags, charts)
    assert [f.id for f in placed["grad_norm"]] == [1]
    assert [f.id for f in placed["loss"]] == [2, 3]
    assert placed["lr"] == []


def test_wall_time_axis_is_a_local_date_axis(build):
    s = build.series("train_loss", [3.0, 2.0, 1.0], dt=10.0)
    chart = plan_charts(["train_loss"])[0]
    axis = x_axis("wall", [s], tz_offset_s=3600)
    layout = run_chart(chart, [s], [], axis)["layout"]
    assert_plotly_equivalent({"data": [], "layout": layout})
    assert layout["xaxis"]["type"] == "date" and layout["xaxis"]["title"]["text"] == "wall time"
    assert layout["meta"] | {"starts": None} == {
        "chart": "loss",
        "keys": ["train_loss"],
        "x_mode": "wall",
        "x_unit_s": 1.0,
        "tz_offset_s": 3600,
        "starts": None,
    }
    assert layout["meta"]["starts"] == {"1": build.t0}


def test_relative_time_picks_a_readable_unit(build):
    s = build.series("train_loss", np.ones(100), dt=60.0)  # 99 minutes
    axis = x_axis("relative", [s])
    assert (axis.unit, axis.unit_s, axis.title) == ("min", 60.0, "time since start (min)")
    layout = run_chart(plan_charts(["train_loss"])[0], [s], [], axis)["layout"]
    assert layout["meta"]["x_mode"] == "relative" and layout["meta"]["x_unit_s"] == 60.0
    assert layout["meta"]["starts"] == {"1": build.t0}
