"""`lionlab import tensorboard LOGDIR`: the scalars of TensorBoard event files, one run per
folder holding event files (its path under LOGDIR is the run's name), read with
TensorBoard's own event reader."""

from __future__ import annotations

from pathlib import Path

from lionlab.importers import Progress, Writer, client_key, one_per_step


def event_folders(logdir: Path) -> list[Path]:
    """Folders under `logdir` (itself included) that hold event files, sorted."""
    found = {p.parent for p in logdir.rglob("events.out.tfevents.*") if p.is_file()}
    return sorted(found)


def import_tensorboard(writer: Writer, logdir: Path, project: str) -> None:
    from tensorboard.backend.event_processing.event_accumulator import (
        SCALARS,
        TENSORS,
        EventAccumulator,
    )

    logdir = logdir.resolve()
    folders = event_folders(logdir)
    if not folders:
        raise SystemExit(f"error: no TensorBoard event files under {logdir}")
    progress = Progress(len(folders), writer.echo)
    for folder in folders:
        events = EventAccumulator(str(folder), size_guidance={SCALARS: 0, TENSORS: 0})
        events.Reload()
        name = folder.relative_to(logdir).as_posix()
        name = logdir.name if name == "." else name
        run, _ = writer.run(project, client_key("tensorboard", str(folder)), name, {})
        points = 0
        for tag in sorted(events.Tags().get(SCALARS, [])):
            series, folded = one_per_step(
                tag, ((e.step, e.value, e.wall_time) for e in events.Scalars(tag))
            )
            writer.totals.folded += folded
            points += writer.series(run["id"], series)
        writer.end(run, "FINISHED", None)
        progress.step(name, points)
