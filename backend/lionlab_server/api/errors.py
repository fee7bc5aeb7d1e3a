"""Exception handlers: every error body is {"detail": [{"loc", "msg", "type"}]}, like 422s."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from lionlab.sweeps import SpecError
from lionlab.sweeps.errors import sentence
from lionlab_server.errors import Conflict, Forbidden, InputError, NotFound
from lionlab_server.mlflow.errors import CODE_OF_STATUS, MlflowError, error_json
from lionlab_server.mlflow.errors import PREFIXES as MLFLOW_PREFIXES


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every 4xx and 503 answer."""

    detail: list[ErrorItem]


ANSWERS = {
    400: "The body is not valid JSON.",
    401: "No API token, or an unknown or revoked one.",
    403: "The token may not do this (admin only; cookie writes need X-LionLab-CSRF).",
    404: "The object does not exist or is not visible to this token.",
    409: "The request clashes with stored state (a taken name, a run claimed or ended).",
    413: "The body is over LIONLAB_MAX_BODY_BYTES, or a batch over LIONLAB_MAX_BATCH_POINTS.",
    422: "A field is invalid; `loc` names it and `msg` says how to fix it. Nothing is stored.",
    503: "The database is unavailable right now; retry after Retry-After seconds.",
}
# Every /api/v1 route can answer these (the token, the body limits, the database).
COMMON = (401, 403, 413, 422, 503)


def responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` for the error answers `codes`, with the error body's schema."""
    return {code: {"model": ErrorBody, "description": ANSWERS[code]} for code in codes}


def error_body(loc: list, msg: str, kind: str) -> dict:
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


def _is_mlflow(request: Request) -> bool:
    return request.url.path.startswith(MLFLOW_PREFIXES)


def _mlflow_answer(status: int, message: str, headers=None, code: str | None = None):
    """MLflow's error body {"error_code", "message"}, so mlflow clients raise the
    MlflowException they would raise against MLflow. Bad input is a 4xx (the client retries
    5xx for minutes)."""
    if code is None:
        code = CODE_OF_STATUS.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    return JSONResponse(error_json(code, message), status_code=status, headers=headers)


def _answer(request: Request, status: int, loc: list, msg: str, kind: str, headers=None):
    if _is_mlflow(request):
        if status == 404 and kind == "not_found" and not loc:
            return _mlflow_answer(status, msg, headers, "ENDPOINT_NOT_FOUND")
        return _mlflow_answer(400 if status == 422 else status, msg, headers)
    return JSONResponse(error_body(loc, msg, kind), status_code=status, headers=headers)


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """FastAPI's own errors (401, 403, an unknown path) in the same body as the others."""
    kind = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(exc.status_code, "http")
    return _answer(request, exc.status_code, [], str(exc.detail), kind, exc.headers)


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        msg = err.get("msg", "")
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            msg = f"the body is not valid JSON ({reason}); send a JSON object"
        errors.append({"loc": list(err.get("loc", ())), "msg": msg, "type": err.get("type")})
    if _is_mlflow(request):
        message = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors
        )
        return _mlflow_answer(400, f"invalid request: {message}")
    status = 400 if any(e["type"] == "json_invalid" for e in errors) else 422
    return JSONResponse({"detail": errors}, status_code=status)


def _invalid_spec(_: Request, exc: SpecError) -> JSONResponse:
    # loc: ["body", "spec", "<dotted spec field>"], e.g. "space.lion.optimizer.lr.low"
    errors = [
        {
            "loc": ["body", "spec", field] if field else ["body", "spec"],
            "msg": sentence(field, m),
            "type": "invalid",
        }
        for field, m in exc.errors
    ]
    return JSONResponse({"detail": errors}, status_code=422)


def _database_down(request: Request, exc: Exception) -> JSONResponse:
    msg = "the database is unavailable right now; retry shortly"
    return _answer(request, 503, [], msg, "database_unavailable", {"Retry-After": "2"})


def _mlflow_error(request: Request, exc: MlflowError) -> JSONResponse:
    return _mlflow_answer(exc.status_code, str(exc), code=exc.code)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(
        NotFound, lambda r, e: _answer(r, 404, ["path", e.field], str(e), "not_found")
    )
    app.add_exception_handler(
        Conflict, lambda r, e: _answer(r, 409, ["body", e.field], str(e), "conflict")
    )
    app.add_exception_handler(
        InputError, lambda r, e: _answer(r, e.status_code, list(e.loc), str(e), "invalid")
    )
    app.add_exception_handler(SpecError, _invalid_spec)
    app.add_exception_handler(Forbidden, lambda r, e: _answer(r, 403, [], str(e), "forbidden"))
    app.add_exception_handler(MlflowError, _mlflow_error)
    # A database restart surfaces as one of these on connections opened before it.
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
