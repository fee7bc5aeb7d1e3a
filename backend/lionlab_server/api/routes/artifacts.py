"""/api/v1 run artifacts: the files a run logged (through the MLflow-compatible API), listed
and served for the run page.

The files are user uploads served from the dashboard's own origin, so what a browser may do
with one is decided here, never by the file: png/jpeg/gif/webp images go out as their image
type and a few text kinds as text/plain; everything else (HTML and SVG included) is an
octet-stream attachment. Every answer carries `nosniff` (no guessing a script out of a
"text" file) and `Content-Security-Policy: sandbox` (a file opened in a tab runs nothing and
is of no origin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import IdPath
from lionlab_server.services import artifacts as files

router = APIRouter(prefix="/runs", tags=["artifacts"])

MAX_LISTED = 1000
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
TEXT_SUFFIXES = frozenset((".txt", ".json", ".yaml", ".yml", ".md", ".csv", ".log", ".py", ".toml"))
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"
# On every file answer: no content sniffing, and no script or same-origin rights for it.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}

Preview = Literal["image", "text"]


def preview_kind(path: str) -> Preview | None:
    """How the run page may show a file: as an image, as text, or not at all (download)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return None


def file_response(target: Path, *, inline: bool = True) -> FileResponse:
    """The file with a content type its kind allows. `inline=False` (a download, or a client
    that does not render files) makes every kind an attachment."""
    kind = preview_kind(target.name)
    if kind == "image":
        media = IMAGE_TYPES[target.suffix.lower()]
    elif kind == "text":
        media = TEXT_TYPE
    else:
        media, inline = BINARY_TYPE, False
    return FileResponse(
        target,
        media_type=media,
        filename=target.name,
        content_disposition_type="inline" if inline else "attachment",
        headers=SAFE_HEADERS,
    )


def attachment_response(target: Path) -> FileResponse:
    """The file as bytes to save, whatever its kind (the MLflow artifact download)."""
    return FileResponse(
        target,
        media_type=BINARY_TYPE,
        filename=target.name,
        content_disposition_type="attachment",
        headers=SAFE_HEADERS,
    )


class ArtifactOut(BaseModel):
    path: str = Field(description="Relative to the run's artifacts, with '/' between folders.")
    size: int = Field(description="Bytes.")
    preview: Preview | None = Field(
        description='"image" (png, jpeg, gif, webp) or "text" (txt, json, yaml, md, csv, log, '
        "py, toml): the dashboard shows it; null: download only."
    )


class ArtifactList(BaseModel):
    run_id: int
    files: list[ArtifactOut] = Field(
        description=f"At most {MAX_LISTED}, sorted by path (folder by folder: a folder's "
        "files and subfolders by name together)."
    )
    truncated: bool = Field(description=f"The run has more than {MAX_LISTED} files.")


def _root(request: Request) -> Path:
    return request.app.state.settings.resolved_artifacts_dir


@router.get("/{run_id}/artifacts", response_model=ArtifactList, responses=responses(404))
def list_artifacts(
    run_id: IdPath, request: Request, access: Needs(VIEWER, "run", share=True)
) -> ArtifactList:
    """Every file the run logged (log_artifact, log_figure, log_dict ...), with its size."""
    found = files.walk(_root(request), run_id, limit=MAX_LISTED + 1)
    listed = [
        ArtifactOut(path=e.path, size=e.size or 0, preview=preview_kind(e.path))
        for e in found[:MAX_LISTED]
    ]
    return ArtifactList(run_id=run_id, files=listed, truncated=len(found) > MAX_LISTED)


_BYTES = {"schema": {"type": "string", "format": "binary"}}
FILE_ANSWERS = {
    **responses(400, 404),
    200: {
        "description": "The file: an image or text kind inline (unless `download`), any other "
        "kind an attachment.",
        "content": {media: _BYTES for media in (*dict.fromkeys(IMAGE_TYPES.values()), TEXT_TYPE)}
        | {BINARY_TYPE: _BYTES},
    },
}
FILE_ANSWERS[400] = {
    **FILE_ANSWERS[400],
    "description": "The path is not one inside the run's artifacts (absolute, a '..' part, a "
    "backslash or control character, a part over 255 bytes).",
}


@router.get(
    "/{run_id}/artifacts/{file_path:path}", response_class=FileResponse, responses=FILE_ANSWERS
)
def get_artifact(
    run_id: IdPath,
    file_path: str,
    request: Request,
    access: Needs(VIEWER, "run", share=True),
    download: Annotated[bool, Query(description="Send it as an attachment.")] = False,
):
    """One file of the run: png/jpeg/gif/webp as images, the text kinds as UTF-8 text, any
    other kind as an attachment of type application/octet-stream."""
    target = files.open_file(_root(request), run_id, file_path)
    return file_response(target, inline=not download)
