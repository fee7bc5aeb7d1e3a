"""The compare view: runs coloured by optimizer, legends naming the differing parameters,
and a table of only those parameters."""

from support.figures import assert_plotly_equivalent

from lionlab_server.views.chart_data import x_axis
from lionlab_server.views.compare import compare_chart, compare_runs
from lionlab_server.views.params import differing_keys, format_param, run_params
from lionlab_server.views.style import OPTIMIZER_COLORS


def lion_vs_adamw(build):
    return [
        build.run(1, job={"optimizer": {"name": "lion", "lr": 1e-4}}),
        build.run(2, job={"optimizer": {"name": "lion", "lr": 3e-4}}),
        build.run(3, job={"optimizer": {"name": "adamw"}}),
    ]


def test_job_params_are_flat_and_keep_only_the_optimizers_hyperparameters(build):
    params = run_params(lion_vs_adamw(build)[0])
    assert params["optimizer"] == "lion" and params["lr"] == 1e-4
    assert params["betas"] == [0.9, 0.99] and "eps" not in params and "momentum" not in params
    assert params["schedule.warmup_steps"] == 0 and params["steps"] == 1000


def test_script_runs_use_their_config(build):
    params = run_params(build.run(config={"lr": 3e-4, "model": {"depth": 6}}))
    assert params == {"optimizer": "lion", "lr": 3e-4, "model.depth": 6}


def test_differing_parameters_put_the_known_hyperparameters_first(build):
    params = [run_params(r) for r in lion_vs_adamw(build)]
    assert differing_keys(params) == ["optimizer", "lr", "weight_decay", "betas", "eps"]


def test_runs_are_coloured_by_optimizer_family(build):
    c = compare_runs(lion_vs_adamw(build))
    lion, adamw = OPTIMIZER_COLORS["lion"], OPTIMIZER_COLORS["adamw"]
    assert [s.color for s in c.styles] == [lion[0], lion[1], adamw[0]]


def test_legend_labels_name_the_differing_parameters(build):
    labels = [s.label for s in compare_runs(lion_vs_adamw(build)).styles]
    assert labels == ["lion lr=1e-4 wd=0.1", "lion lr=3e-4 wd=0.1", "adamw lr=0.001 wd=0.01"]


def test_identical_runs_are_told_apart_by_name(build):
    runs = [build.run(1, job={}, name="a"), build.run(2, job={}, name="b")]
    assert [s.label for s in compare_runs(runs).styles] == ["a", "b"]


def test_table_holds_only_the_differing_parameters(build):
    runs = lion_vs_adamw(build)
    table = compare_runs(runs).table(runs)
    assert [c["key"] for c in table["columns"]] == [
        "optimizer",
        "lr",
        "weight_decay",
        "betas",
        "eps",
    ]
    assert table["rows"][2] == {"run": 3, "values": ["adamw", 1e-3, 0.01, [0.9, 0.999], 1e-8]}
    assert table["rows"][0]["values"][4] is None  # Lion has no eps


def test_compare_chart_sends_one_series_per_run_with_its_label_and_colour(build):
    runs = lion_vs_adamw(build)
    c = compare_runs(runs)
    series = {r.id: build.series("train_loss", [3.0, 2.0, 1.5], run_id=r.id) for r in runs}
    body = compare_chart("train_loss", c.styles, series, x_axis("step", series.values()))
    assert (body["id"], body["keys"]) == ("key:train_loss", ["train_loss"])
    assert [s["run_id"] for s in body["series"]] == [r.id for r in runs]
    assert [s["name"] for s in body["series"]] == [s.label for s in c.styles]
    assert [s["color"] for s in body["series"]] == [s.color for s in c.styles]
    assert all(s["raw_hover"] is False for s in body["series"])  # many faint curves: no hover
    assert body["series"][0]["values"] == [3.0, 2.0, 1.5]
    layout = body["layout"]
    assert_plotly_equivalent({"data": [], "layout": layout})
    assert layout["showlegend"] is True and layout["title"]["text"] == "train_loss"


def test_format_param_reads_like_a_config():
    assert [format_param(v) for v in (1e-4, 0.01, [0.9, 0.99], None, True, 3)] == [
        "1e-4",
        "0.01",
        "(0.9, 0.99)",
        "—",
        "true",
        "3",
    ]
