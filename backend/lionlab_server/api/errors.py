"""Exception handlers: every error body is {"detail": [{"loc", "msg", "type"}]}, like 422s."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from lionlab.sweeps import SpecError
from lionlab.sweeps.errors import sentence
from lionlab_server.errors import Conflict, Forbidden, InputError, NotFound


def _body(loc: list, msg: str, kind: str) -> dict:
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        msg = err.get("msg", "")
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            msg = f"the body is not valid JSON ({reason}); send a JSON object"
        errors.append({"loc": list(err.get("loc", ())), "msg": msg, "type": err.get("type")})
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


def _database_down(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        _body([], "the database is unavailable right now; retry shortly", "database_unavailable"),
        status_code=503,
        headers={"Retry-After": "2"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(
        NotFound, lambda _, e: JSONResponse(_body(["path", e.field], str(e), "not_found"), 404)
    )
    app.add_exception_handler(
        Conflict, lambda _, e: JSONResponse(_body(["body", e.field], str(e), "conflict"), 409)
    )
    app.add_exception_handler(
        InputError,
        lambda _, e: JSONResponse(_body(list(e.loc), str(e), "invalid"), e.status_code),
    )
    app.add_exception_handler(SpecError, _invalid_spec)
    app.add_exception_handler(
        Forbidden, lambda _, e: JSONResponse(_body([], str(e), "forbidden"), 403)
    )
    # A database restart surfaces as one of these on connections opened before it.
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
