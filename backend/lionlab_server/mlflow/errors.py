"""MLflow's error answers: its codes, the HTTP status of each, the body, and the paths they
are used on. A leaf module (pydantic only): the app's exception handlers and the request
limits middleware import it."""

from __future__ import annotations

from pydantic import BaseModel

# MLflow's error codes and the HTTP status its server answers each with (mlflow/exceptions.py).
STATUS_OF_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "TEMPORARILY_UNAVAILABLE": 503,
}
CODE_OF_STATUS = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    409: "RESOURCE_CONFLICT",
    413: "INVALID_PARAMETER_VALUE",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}
# Paths answered in MLflow's error body {"error_code", "message"}.
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


class MlflowErrorBody(BaseModel):
    """The body of every error answer on the MLflow-compatible API."""

    error_code: str
    message: str


ANSWERS = {
    400: "INVALID_PARAMETER_VALUE (a field, filter or token is invalid; nothing is stored), "
    "RESOURCE_ALREADY_EXISTS or BAD_REQUEST.",
    401: "UNAUTHENTICATED: no token (MLFLOW_TRACKING_TOKEN) or user (MLFLOW_TRACKING_USERNAME "
    "and _PASSWORD), or a wrong one.",
    403: "PERMISSION_DENIED: the caller's role on the project does not allow this.",
    404: "RESOURCE_DOES_NOT_EXIST: no such experiment, run or artifact visible to the caller.",
    409: "RESOURCE_CONFLICT: the run's lifecycle does not allow this (a job's status is its "
    "worker's).",
    413: "INVALID_PARAMETER_VALUE: the body is over LIONLAB_MAX_BODY_BYTES.",
    503: "TEMPORARILY_UNAVAILABLE: the database is unavailable; retry.",
}


def responses(*codes: int) -> dict[int | str, dict]:
    return {c: {"model": MlflowErrorBody, "description": ANSWERS[c]} for c in codes}


COMMON = (400, 401, 403, 404, 409, 413, 503)


class MlflowError(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.status_code = code, STATUS_OF_CODE[code]
        super().__init__(message)


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def error_json(code: str, message: str) -> dict:
    return {"error_code": code, "message": message}
