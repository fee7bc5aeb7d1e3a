"""The `mlflow-artifacts` endpoints that `log_artifact`, `log_dict`, `log_text`,
`log_figure` and `download_artifacts` use (the MLflow server's artifact proxy), over the
run folders of `services/artifacts.py`. A run's artifact URI is
`mlflow-artifacts:/<experiment>/<run>/artifacts`, so every path starts with the run's project
and id: the caller's role is checked on that run (editor to upload or delete, viewer to
list and download), and a path naming another project than the run's is a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from lionlab_server.api.access import EDITOR, VIEWER, Access, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.routes.artifacts import attachment_response
from lionlab_server.api.validation import _text
from lionlab_server.mlflow import protocol as p
from lionlab_server.services import artifacts as files
from lionlab_server.store import mlflow as store

router = APIRouter(tags=["mlflow-artifacts"])
ArtifactPath = _text(1100)


def _locate(request: Request, session, access: Access, path: str) -> tuple[int, str]:
    """(run id, path inside the run) of `<experiment>/<run>/artifacts[/<path>]`."""
    parts = path.strip("/").split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts":
        raise p.MlflowError(
            "RESOURCE_DOES_NOT_EXIST",
            f"{path[:200]!r} is not a run's artifact path (<experiment>/<run>/artifacts/...)",
        )
    experiment = p.parse_id(parts[0], "experiment", "path")
    run_id = p.parse_id(parts[1], "run", "path")
    access.runs([run_id])
    if store.project_of_run(session, run_id) != experiment:
        raise p.MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"run {run_id} is not in experiment {experiment}"
        )
    session.rollback()  # file work next: end the lookup's read transaction
    return run_id, parts[3] if len(parts) > 3 else ""


def _root(request: Request):
    return request.app.state.settings.resolved_artifacts_dir


@router.put("/artifacts/{artifact_path:path}")
async def upload_artifact(
    artifact_path: str, request: Request, session: SessionDep, access: Needs(EDITOR)
):
    """Store one file (the request body, streamed to disk; at most LIONLAB_MAX_ARTIFACT_BYTES)."""
    run_id, rel = _locate(request, session, access, artifact_path)
    record = store.run_records(session, [run_id])[0]
    session.rollback()
    if record.deleted_at is not None:
        raise p.invalid(f"run {run_id} is deleted; restore it before logging artifacts")
    limit = request.app.state.settings.max_artifact_bytes
    try:
        await files.save(_root(request), run_id, rel, request.stream(), limit)
    except files.TooLarge:
        raise p.MlflowError(
            "INVALID_PARAMETER_VALUE", f"the file is over LIONLAB_MAX_ARTIFACT_BYTES ({limit})"
        ) from None
    return {}


@router.get("/artifacts/{artifact_path:path}")
def download_artifact(
    artifact_path: str, request: Request, session: SessionDep, access: Needs(VIEWER)
):
    """One file, always as an octet-stream attachment: mlflow clients only save the bytes,
    and a browser sent here must never render an uploaded page or image from this origin."""
    run_id, rel = _locate(request, session, access, artifact_path)
    target = files.open_file(_root(request), run_id, rel)
    return attachment_response(target)


@router.get("/artifacts")
def list_artifacts(
    request: Request,
    session: SessionDep,
    access: Needs(VIEWER),
    path: Annotated[ArtifactPath, Query()],
):
    """The entries of one folder of a run's artifacts (names, folders, sizes)."""
    run_id, rel = _locate(request, session, access, path)
    entries = files.list_dir(_root(request), run_id, rel)
    out = []
    for e in entries:
        item: dict = {"path": e.path, "is_dir": e.is_dir}
        if e.size is not None:
            item["file_size"] = e.size
        out.append(item)
    return {"files": out}


@router.delete("/artifacts/{artifact_path:path}")
def delete_artifact(
    artifact_path: str, request: Request, session: SessionDep, access: Needs(EDITOR)
):
    run_id, rel = _locate(request, session, access, artifact_path)
    files.delete(_root(request), run_id, rel)
    return {}


def install(app) -> None:
    answers = p.responses(*p.COMMON)
    app.include_router(router, prefix="/api/2.0/mlflow-artifacts", responses=answers)
    app.include_router(
        router, prefix="/ajax-api/2.0/mlflow-artifacts", include_in_schema=False, responses=answers
    )
