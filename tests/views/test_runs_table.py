"""Rows of the runs table: progress and ETA, loss summary, flags, actions."""

import math

from lionlab_server.schemas import MetricSummary
from lionlab_server.views.runs_table import table_row


def summary(key, last_step, last, best):
    return MetricSummary(
        key=key,
        count=last_step,
        first_step=1,  # a job's steps count from 1, as the worker logs them
        last_step=last_step,
        last=last,
        min=best,
        max=9.0,
        nan_count=0,
    )


def test_running_job_shows_progress_and_eta(build):
    run = build.run(job={"steps": 1000}, started_s_ago=100)
    row = table_row(run, [summary("train_loss", 250, 1.5, 1.2)], [], build.now)
    assert (row.step, row.total_steps, row.progress) == (250, 1000, 0.25)
    assert row.duration_s == 100 and row.eta_s == 300  # 250 steps in 100 s, 750 to go
    assert (row.loss_key, row.last_loss, row.best_loss) == ("train_loss", 1.5, 1.2)
    assert row.hparams == {
        "lr": "1e-4",
        "weight_decay": "0.1",
        "betas": "(0.9, 0.99)",
        "batch_size": "32",
    }
    assert row.can_cancel and row.can_rerun


def test_a_jobs_last_step_is_its_steps_done(build):
    """The worker logs steps 1..steps: step 200 of 400 is half done, step 400 is all of it."""
    run = build.run(job={"steps": 400}, started_s_ago=100)
    half = table_row(run, [summary("train_loss", 200, 1.5, 1.2)], [], build.now)
    assert (half.step, half.progress, half.eta_s) == (200, 0.5, 100)
    last = table_row(run, [summary("train_loss", 400, 1.0, 0.9)], [], build.now)
    assert (last.step, last.total_steps, last.progress, last.eta_s) == (400, 400, 1.0, None)


def test_script_run_has_no_total_and_cannot_be_rerun(build):
    run = build.run(config={"lr": 3e-4, "wd": 1.0})
    row = table_row(run, [summary("loss", 99, math.nan, 0.5)], [], build.now)
    assert row.total_steps is None and row.progress is None and row.eta_s is None
    assert row.loss_key == "loss" and math.isnan(row.last_loss)
    assert row.model_dump(mode="json")["last_loss"] == "NaN"  # encoded only for JSON
    assert row.hparams == {"lr": "3e-4", "wd": "1"}
    assert row.can_cancel and not row.can_rerun


def test_flags_are_counted_by_kind_with_the_worst_severity(build):
    flags = [
        build.flag("loss_step", 1, 2, "info", 1),
        build.flag("loss_step", 3, 4, "warning", 2),
        build.flag("divergence", 5, 5, "critical", 3),
    ]
    row = table_row(build.run(job={}), [], flags, build.now)
    assert row.flags.total == 3 and row.flags.worst == "critical"
    assert row.flags.kinds == {"loss_step": 2, "divergence": 1}


def test_finished_and_queued_runs(build):
    done = table_row(build.run(status="succeeded", job={"steps": 10}), [], [], build.now)
    assert done.progress == 1.0 and not done.can_cancel and done.eta_s is None
    queued = table_row(build.run(status="queued", job={}, started_s_ago=None), [], [], build.now)
    assert queued.progress == 0.0 and queued.duration_s is None and queued.can_cancel
