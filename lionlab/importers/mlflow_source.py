"""`lionlab import mlflow --tracking-uri URI [--experiment NAME]`: experiments, runs, params,
tags and full metric histories from an MLflow tracking server (or any store the mlflow
client reads), read with the `mlflow` package."""

from __future__ import annotations

from lionlab.importers import Progress, Writer, client_key, one_per_step

# Tags MLflow writes itself and LionLab shows otherwise (the run's name is its name).
SKIP_TAGS = {"mlflow.runName"}


def import_mlflow(writer: Writer, tracking_uri: str, experiment: str | None = None) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    source = MlflowClient(tracking_uri=tracking_uri)
    if experiment is not None:
        found = source.get_experiment_by_name(experiment)
        if found is None:
            raise SystemExit(f"error: {tracking_uri} has no experiment named {experiment!r}")
        experiments = [found]
    else:
        experiments = list(source.search_experiments(view_type=ViewType.ACTIVE_ONLY))
    for exp in experiments:
        runs = _all_runs(source, exp.experiment_id)
        progress = Progress(len(runs), writer.echo)
        for run in runs:
            points = _import_run(writer, source, exp.name, run)
            progress.step(f"{exp.name}/{run.info.run_name or run.info.run_id}", points)


def _all_runs(source, experiment_id: str) -> list:
    from mlflow.entities import ViewType

    runs, token = [], None
    while True:
        page = source.search_runs(
            [experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
            page_token=token, order_by=["attributes.start_time ASC"],
        )  # fmt: skip
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _import_run(writer: Writer, source, experiment: str, run) -> int:
    info, data = run.info, run.data
    created, _ = writer.run(
        experiment,
        client_key("mlflow", info.run_id),
        info.run_name or "",
        dict(data.params),
        started=info.start_time / 1000 if info.start_time else None,
    )
    tags = {k: v for k, v in data.tags.items() if k not in SKIP_TAGS}
    tags["lionlab.import.source"] = f"mlflow run {info.run_id}"
    writer.tags(created["id"], tags)
    points = 0
    for key in sorted(data.metrics):
        history = source.get_metric_history(info.run_id, key)
        series, folded = one_per_step(key, ((m.step, m.value, m.timestamp / 1000) for m in history))
        writer.totals.folded += folded
        points += writer.series(created["id"], series)
    writer.end(created, info.status, info.end_time)
    return points
