"""The sweep page's figures, from hand-made sweep results: loss against lr (one line per
optimizer, sd error bars, diverged and stopped-early marks), parallel coordinates of the
trials, time to target with the speedup's bootstrap interval, and the page's summaries."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest
from support.figures import assert_plotly_equivalent

from lionlab.sweeps import Curve, Decision, TrialResult, analyze, expand
from lionlab.sweeps.spec import parse_spec_text
from lionlab_server import schemas
from lionlab_server.services.sweep_report import SweepReport
from lionlab_server.views.sweep import sweep_page
from lionlab_server.views.sweep_parallel import parallel_figure
from lionlab_server.views.sweep_sensitivity import sensitivity_figure
from lionlab_server.views.sweep_target import time_to_target_figure
from lionlab_server.web.sweep_pages import EXAMPLE_SPEC

STEPS, EVERY = 1000, 50
ADAMW, LION = "#1c7ed6", "#e8590c"  # the dashboard's optimizer colours


def curve(floor: float, tau: float, *, until: int = STEPS, step_time: float = 0.2) -> Curve:
    """Eval loss decaying from 3.0 towards `floor`; `step_time` wall seconds per step."""
    steps = np.arange(EVERY, until + 1, EVERY)
    values = floor + (3.0 - floor) * np.exp(-steps / tau)
    return Curve(steps, values, wall_time=steps * step_time, start_time=0.0)


def trial(index, optimizer, lr, seed, status="succeeded", *, floor=1.0, tau=200.0, until=STEPS):
    wd = 0.01 if optimizer == "adamw" else 0.1
    params = {"optimizer.lr": lr, "optimizer.weight_decay": wd}
    c = curve(floor + 0.01 * seed, tau, until=until)
    if status == "diverged":  # the last eval point is NaN, as a divergence leaves it
        values = c.values.copy()
        values[-1] = math.nan
        c = Curve(c.steps, values, c.wall_time, 0.0)
    return TrialResult(
        trial=index,
        optimizer=optimizer,
        group=f"{optimizer} lr={lr:g}",
        seed=seed,
        status=status,
        curve=c,
        planned_steps=STEPS,
        params=params,
    )


def results() -> list[TrialResult]:
    """AdamW at two lrs; Lion at three, one of which diverges on a seed and one ASHA stops."""
    out = []
    plan = [
        ("adamw", 1e-3, ["succeeded"] * 3, 1.00, 300.0),
        ("adamw", 3e-3, ["succeeded"] * 3, 1.10, 250.0),
        ("lion", 1e-4, ["succeeded"] * 3, 0.98, 150.0),
        ("lion", 3e-4, ["succeeded", "diverged", "succeeded"], 1.05, 140.0),
        ("lion", 1e-3, ["stopped_early"] * 3, 1.60, 400.0),
    ]
    for optimizer, lr, statuses, floor, tau in plan:
        for seed, status in enumerate(statuses):
            until = STEPS if status == "succeeded" else 400
            out.append(
                trial(len(out), optimizer, lr, seed, status, floor=floor, tau=tau, until=until)
            )
    return out


@pytest.fixture
def analysis():
    return analyze(results())


def traces(figure, role, optimizer=None):
    return [
        t
        for t in figure["data"]
        if t.get("meta", {}).get("role") == role
        and (optimizer is None or t["meta"].get("optimizer") == optimizer)
    ]


def test_sensitivity_has_a_final_and_a_best_line_per_optimizer_on_a_log_lr_axis(analysis):
    fig = sensitivity_figure(analysis)
    assert_plotly_equivalent(fig)
    assert fig["layout"]["xaxis"]["type"] == "log"
    finals = traces(fig, "final")
    assert [t["meta"]["optimizer"] for t in finals] == ["adamw", "lion"]
    assert [t["line"]["color"] for t in finals] == [ADAMW, LION]
    assert [len(traces(fig, "best", o)) for o in ("adamw", "lion")] == [1, 1]
    adamw, lion = finals
    assert list(adamw["x"]) == [1e-3, 3e-3]
    # Lion's 1e-3 was stopped on every seed: it has no final loss, so it is not on the line
    assert list(lion["x"]) == [1e-4, 3e-4]
    g = analysis.best["adamw"]
    assert adamw["y"][0] == pytest.approx(g.final_mean)
    assert adamw["error_y"]["array"][0] == pytest.approx(g.final_sd) and g.final_sd > 0
    assert fig["layout"]["meta"] == {"chart": "sensitivity", "empty": False}


def test_sensitivity_marks_diverged_and_stopped_configurations(analysis):
    fig = sensitivity_figure(analysis)
    (diverged,) = traces(fig, "diverged")
    assert diverged["meta"]["optimizer"] == "lion" and list(diverged["x"]) == [3e-4]
    assert diverged["marker"]["symbol"].startswith("x")
    assert diverged["yaxis"] == "y2"  # at the plot's top edge
    assert "diverged on 1 of 3 seeds" in diverged["text"][0]
    (stopped,) = traces(fig, "stopped_early")
    assert list(stopped["x"]) == [1e-3]
    assert "stopped early by ASHA on 3 of 3 seeds" in stopped["text"][0]
    assert not traces(fig, "diverged", "adamw")


def test_sensitivity_stars_each_best_configuration_and_draws_the_target(analysis):
    fig = sensitivity_figure(analysis)
    stars = {t["meta"]["optimizer"]: t for t in traces(fig, "best_config")}
    assert set(stars) == {"adamw", "lion"}
    assert list(stars["lion"]["x"]) == [1e-4]  # 3e-4 diverged on a seed: never the best
    (target,) = fig["layout"]["shapes"]
    assert target["y0"] == pytest.approx(analysis.target)


def test_configurations_sharing_an_lr_draw_the_line_through_the_best(analysis):
    extra = [
        TrialResult(
            trial=100 + s,
            optimizer="adamw",
            group="adamw lr=0.001 wd=0.1",
            seed=s,
            status="succeeded",
            curve=curve(1.3, 300.0),
            planned_steps=STEPS,
            params={"optimizer.lr": 1e-3, "optimizer.weight_decay": 0.1},
        )
        for s in range(3)
    ]
    fig = sensitivity_figure(analyze(results() + extra))
    (adamw,) = traces(fig, "final", "adamw")
    assert list(adamw["x"]) == [1e-3, 3e-3]
    assert adamw["y"][0] < 1.1  # wd=0.01 (final ~1.0), not wd=0.1 (~1.3)
    (other,) = traces(fig, "other", "adamw")
    assert other["meta"]["groups"] == ["adamw lr=0.001 wd=0.1"]


def test_parallel_coordinates_have_optimizer_log_lr_and_losses(analysis):
    fig = parallel_figure(analysis)
    assert_plotly_equivalent(fig)
    (trace,) = fig["data"]
    dims = {d["label"]: d for d in trace["dimensions"]}
    assert list(dims) == [
        "optimizer",
        "lr (log)",
        "wd (log)",  # 0.01 and 0.1: a decade apart, so log too
        "status",
        "best eval loss",
        "final eval loss",
    ]
    assert dims["optimizer"]["ticktext"] == ["AdamW", "Lion"]
    lrs = [10**v for v in dims["lr (log)"]["values"]]
    assert sorted(set(np.round(lrs, 10))) == [1e-4, 3e-4, 1e-3, 3e-3]
    assert dims["lr (log)"]["ticktext"] == ["1e-4", "3e-4", "0.001", "0.003"]
    assert set(dims["status"]["ticktext"]) == {"succeeded", "diverged", "stopped early"}
    final = dims["final eval loss"]
    assert final["ticktext"][-1] == "none"  # stopped and diverged trials have no final loss
    assert len(trace["meta"]["trials"]) == 15
    assert trace["line"]["color"] == pytest.approx([dims["best eval loss"]["values"]][0])


def test_time_to_target_shows_every_seed_and_the_speedup_interval(analysis):
    fig = time_to_target_figure(analysis)
    assert_plotly_equivalent(fig)
    seeds = traces(fig, "seeds")
    assert {(t["meta"]["optimizer"], t["meta"]["unit"]) for t in seeds} == {
        (o, u) for o in ("adamw", "lion") for u in ("steps", "seconds")
    }
    (lion_steps,) = [t for t in traces(fig, "seeds", "lion") if t["meta"]["unit"] == "steps"]
    hit = analysis.hits[6]  # Lion lr=1e-4, seed 0
    at = lion_steps["meta"]["trials"].index(6)
    assert lion_steps["x"][at] == hit.step and lion_steps["marker"]["symbol"][at] == "circle"
    # ASHA stopped Lion's 1e-3 before the target: drawn where it stopped, open marker
    at = lion_steps["meta"]["trials"].index(12)
    assert lion_steps["x"][at] == 400 and lion_steps["marker"]["symbol"][at] == "square-open"
    labels = fig["layout"]["yaxis"]["categoryarray"]
    assert labels[0] == "★ AdamW lr=0.001 wd=0.01" and "★ Lion lr=1e-4 wd=0.1" in labels

    speedups = {t["meta"]["unit"]: t for t in traces(fig, "speedup")}
    sp = analysis.speedup_steps
    assert set(speedups) == {"steps", "seconds"}
    steps = speedups["steps"]
    assert steps["x"] == [pytest.approx(sp.ratio)] and sp.ratio > 1
    assert steps["error_x"]["array"][0] == pytest.approx(sp.high - sp.ratio)
    assert steps["error_x"]["arrayminus"][0] == pytest.approx(sp.ratio - sp.low)
    assert "95% CI" in steps["customdata"][0][0]
    assert fig["layout"]["xaxis2"]["type"] == "log"
    lo, hi = fig["layout"]["xaxis2"]["range"]
    assert 10**lo < min(1.0, sp.low) and 10**hi > sp.high  # parity and the interval shown
    buttons = fig["layout"]["updatemenus"][0]["buttons"]
    assert [b["label"] for b in buttons] == ["Steps", "Wall clock"]


def test_without_finished_trials_every_figure_says_it_is_empty():
    pending = [
        TrialResult(
            i, o, f"{o} lr=0.001", 0, "queued", Curve([], []), STEPS, {"optimizer.lr": 1e-3}
        )
        for i, o in enumerate(("adamw", "lion"))
    ]
    a = analyze(pending)
    for build in (sensitivity_figure, parallel_figure, time_to_target_figure):
        fig = build(a)
        assert_plotly_equivalent(fig)
        assert fig["layout"]["meta"]["empty"] is True
    notes = [n["text"] for n in time_to_target_figure(a)["layout"]["annotations"]]
    assert any("No target yet" in n for n in notes)


def sweep_detail(trials: list[TrialResult]) -> schemas.SweepDetail:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return schemas.SweepDetail(
        id=1,
        project_id=1,
        name="demo",
        description="",
        status="finished",
        spec={},
        created_at=now,
        finished_at=now,
        trials_total=len(trials),
        max_parallel=4,
        asha=True,
        counts={"succeeded": len(trials)},
        trials=[
            schemas.SweepTrial(
                index=t.trial,
                optimizer=t.optimizer,
                seed=t.seed,
                group=t.group,
                params=dict(t.params),
                planned_steps=t.planned_steps,
                run_id=100 + t.trial,
                status=t.status.value,
            )
            for t in trials
        ],
    )


def test_the_page_body_has_figures_best_configs_verdict_and_decisions():
    trials = results()
    decision = Decision(12, 400, 1, 1.9, "stop", 1.7, 3, "stopped at step 400: rung 1")
    report = SweepReport(sweep_detail(trials), analyze(trials), [decision])
    body = sweep_page(report)
    assert set(body["figures"]) == {"sensitivity", "parallel", "time_to_target"}
    assert [b["optimizer"] for b in body["best"]] == ["adamw", "lion"]
    lion = body["best"][1]
    assert lion["params"] == {"lr": "1e-4", "wd": "0.1"} and lion["runs"] == [106, 107, 108]
    assert body["verdict"]["status"] == report.analysis.verdict.status
    assert body["speedup"]["steps"]["significant"] is not None
    assert body["compute"]["saved_by_early_stopping"] > 0
    assert body["decisions"][0]["reason"].startswith("stopped at step 400")
    assert [c["label"] for c in body["params"]["columns"]] == ["lr", "wd"]
    assert body["params"]["values"]["6"] == {
        "optimizer.lr": "1e-4",
        "optimizer.weight_decay": "0.1",
    }


def test_the_new_sweep_forms_example_is_a_valid_paired_spec():
    spec = parse_spec_text(EXAMPLE_SPEC)
    assert spec.optimizers == ["adamw", "lion"]
    assert len(expand(spec)) == (2 + 4) * 3  # Lion's 4 configurations come from AdamW's 2


def test_lr_ticks_are_the_swept_values_without_overprinting():
    close = [trial(10 + i, "lion", lr, 0) for i, lr in enumerate((1e-4, 3e-4, 3.33333333333e-4))]
    fig = sensitivity_figure(analyze(results()[:3] + close))
    assert fig["layout"]["xaxis"]["ticktext"] == ["1e-4", "3e-4", "0.001"]


def test_a_lion_that_never_reaches_the_target_keeps_the_speedup_panel_and_says_why():
    slow = [trial(i, "adamw", 1e-3, i, floor=1.0, tau=150.0) for i in range(2)]
    slow += [trial(2 + i, "lion", 1e-4, i, floor=1.5, tau=300.0) for i in range(2)]
    fig = time_to_target_figure(analyze(slow))
    (placeholder,) = [t for t in fig["data"] if t.get("meta", {}).get("role") == "placeholder"]
    # the panel's axes exist only if a trace uses them; its note must not land on the seeds
    assert placeholder["xaxis"] == "x2" and placeholder["marker"]["opacity"] == 0
    notes = [a["text"] for a in fig["layout"]["annotations"] if a.get("xref") == "x2 domain"]
    assert any("Lion<br>never reached the target" in n for n in notes)


def test_a_blown_up_trial_puts_the_loss_axes_on_a_log_scale():
    trials = [trial(i, "adamw", 1e-3, i) for i in range(2)]
    blown = trial(2, "lion", 0.3, 0, "diverged", until=100)
    blown = TrialResult(**{**blown.__dict__, "best_loss": 2249.0})
    fig = parallel_figure(analyze([*trials, blown]))
    best = next(d for d in fig["data"][0]["dimensions"] if d["label"].startswith("best"))
    assert best["label"] == "best eval loss (log)"
    assert max(best["values"]) == pytest.approx(math.log10(2249.0))
    assert best["ticktext"][-1] == "2.25e+03"
