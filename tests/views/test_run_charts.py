"""The run view's figures: one chart per metric group, raw + smoothed traces, NaN marks,
flags as shapes with hoverable markers, and the x axis by step or time."""

import numpy as np
from support.figures import assert_plotly_equivalent

from lionlab_server.views.run_charts import assign_flags, plan_charts, run_chart_figure
from lionlab_server.views.traces import x_axis


def by_role(figure, role):
    return [t for t in figure["data"] if t["meta"]["role"] == role]


def test_standard_metrics_are_grouped_and_other_keys_get_a_chart_each():
    charts = plan_charts(["zeta", "eval_loss", "lr", "train_loss", "accuracy", "samples_per_s"])
    assert [(c.id, c.keys) for c in charts] == [
        ("loss", ("train_loss", "eval_loss")),
        ("lr", ("lr",)),
        ("samples_per_s", ("samples_per_s",)),
        ("key:accuracy", ("accuracy",)),
        ("key:zeta", ("zeta",)),
    ]


def test_a_chart_has_raw_smoothed_and_nonfinite_traces_per_key(build):
    chart = plan_charts(["train_loss", "eval_loss"])[0]
    train = build.series("train_loss", [4.0, 3.0, np.nan, 2.0, np.inf])
    evals = build.series("eval_loss", [3.5, 2.5])
    fig = run_chart_figure(chart, [train, evals], [], x_axis("step", [train, evals]), 0.6)
    assert_plotly_equivalent(fig)
    assert [t["meta"]["key"] for t in by_role(fig, "raw")] == ["train_loss", "eval_loss"]
    assert [t["name"] for t in by_role(fig, "smoothed")] == ["train_loss", "eval_loss"]
    raw = build.array(by_role(fig, "raw")[0]["y"])
    assert np.isnan(raw[2]) and np.isnan(raw[4])  # gaps where the value is not finite
    bad = by_role(fig, "nonfinite")[0]
    assert bad["text"] == ["NaN", "+Inf"] and list(build.array(bad["customdata"])) == [2, 4]
    assert bad["yaxis"] == "y2" and list(build.array(bad["y"])) == [0.03, 0.97]
    assert by_role(fig, "raw")[0]["opacity"] < 1  # the raw curve stays visible, faint
    assert fig["layout"]["showlegend"] is True


def test_smoothed_trace_is_the_debiased_ema_of_raw(build):
    s = build.series("grad_norm", [1.0, 3.0, 2.0])
    chart = plan_charts(["grad_norm"])[0]
    fig = run_chart_figure(chart, [s], [], x_axis("step", [s]), 0.5)
    smooth = build.array(by_role(fig, "smoothed")[0]["y"])
    np.testing.assert_allclose(smooth, [1.0, 1 * 0.5 * 0.5 / 0.75 + 3 * 0.5 / 0.75, smooth[2]])
    assert by_role(fig, "smoothed")[0]["meta"]["smoothing"] == 0.5


def test_flags_become_spans_with_their_message_on_hover(build):
    s = build.series("train_loss", np.linspace(3, 1, 500))
    chart = plan_charts(["train_loss"])[0]
    flags = [
        build.flag("loss_step", 100, 180, "warning", 1, "loss fell <fast>"),
        build.flag("divergence", 300, 300, "critical", 2, "NaN loss"),
    ]
    fig = run_chart_figure(chart, [s], flags, x_axis("step", [s]), 0.6)
    assert_plotly_equivalent(fig)
    shapes = fig["layout"]["shapes"]
    assert [sh["name"] for sh in shapes] == ["flag:loss_step:1", "flag:divergence:2"]
    assert shapes[0]["type"] == "rect" and (shapes[0]["x0"], shapes[0]["x1"]) == (100, 180)
    assert shapes[1]["type"] == "line" and shapes[1]["x0"] == 300
    markers = by_role(fig, "flags")[0]
    assert list(build.array(markers["x"])) == [140, 300]
    assert "loss fell &lt;fast&gt;" in markers["text"][0]  # escaped: plotly renders HTML
    assert "steps 100–180" in markers["text"][0]


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


def test_wall_time_axis_is_a_local_date_axis_and_flags_follow_it(build):
    s = build.series("train_loss", [3.0, 2.0, 1.0], dt=10.0)
    chart = plan_charts(["train_loss"])[0]
    axis = x_axis("wall", [s], tz_offset_s=3600)
    fig = run_chart_figure(chart, [s], [build.flag("loss_step", 1, 2)], axis, 0.6)
    assert_plotly_equivalent(fig)
    assert fig["layout"]["xaxis"]["type"] == "date"
    x = build.array(by_role(fig, "raw")[0]["x"])
    np.testing.assert_allclose(x, (build.t0 + 3600 + np.array([0, 10, 20])) * 1000)
    assert list(build.array(by_role(fig, "raw")[0]["customdata"])) == [0, 1, 2]
    assert fig["layout"]["shapes"][0]["x0"] == (build.t0 + 3600 + 10) * 1000
    assert fig["layout"]["meta"]["x_mode"] == "wall"


def test_relative_time_picks_a_readable_unit(build):
    s = build.series("train_loss", np.ones(100), dt=60.0)  # 99 minutes
    axis = x_axis("relative", [s])
    assert (axis.unit, axis.unit_s, axis.title) == ("min", 60.0, "time since start (min)")
    fig = run_chart_figure(plan_charts(["train_loss"])[0], [s], [], axis, 0.6)
    assert build.array(by_role(fig, "raw")[0]["x"])[-1] == 99.0
    assert fig["layout"]["meta"]["starts"] == {"1": build.t0}
