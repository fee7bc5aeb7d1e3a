"""The API's input rules, in one place: ranges that match the columns, string rules, stored
JSON values, and the body size and depth limits every route shares.

The rules are the same on SQLite and Postgres, so a request that one backend stores the other
stores too; anything outside them is a 4xx naming the field, before the database sees it.
- Ids (projects, runs, sweeps, tokens, flags) are Integer columns, int4 on Postgres:
  1 .. 2**31 - 1.
- Steps: 0 .. 2**53 - 1. Steps are int8 columns, but summaries, LOD bucket arithmetic and
  the dashboard's JavaScript hold them exactly only up to 2**53 (a double's integer range).
- Strings: the column's length, no NUL (\\x00: Postgres cannot store it in text) and no lone
  surrogate (not UTF-8).
- Stored JSON (run configs): `lionlab.json_values` (depth, 64-bit integers, no NaN/Infinity).
- Bodies: at most `Settings.max_body_bytes` (413) and `MAX_BODY_DEPTH` levels of nesting (422),
  checked by `RequestLimits` for every route before it runs.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from fastapi import Path, Query
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from lionlab.json_values import MAX_DEPTH, JsonValueError, check_json_value, text_problem
from lionlab_server.api.errors import error_body
from lionlab_server.mlflow.errors import CODE_OF_STATUS, error_json
from lionlab_server.mlflow.errors import PREFIXES as MLFLOW_PREFIXES

MAX_ID = 2**31 - 1
MAX_STEP = 2**53 - 1
# A body wraps its stored values (body -> spec -> base -> ...): a few levels on top.
MAX_BODY_DEPTH = MAX_DEPTH + 4


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise PydanticCustomError("unstorable_text", problem)
    return value


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    try:
        check_json_value(value)
    except JsonValueError as exc:
        where = f"at {exc.path} " if exc.path else ""
        raise PydanticCustomError(
            "json_value", "{where}{message}", {"where": where, "message": exc.message}
        ) from None
    return value


def _text(max_length: int, min_length: int | None = None) -> Any:
    return Annotated[
        str, Field(min_length=min_length, max_length=max_length), AfterValidator(_storable)
    ]


# Ids and steps, for bodies and query parameters; `IdPath` for path parameters.
DbId = Annotated[int, Field(ge=1, le=MAX_ID, description="An id: 1 .. 2**31 - 1.")]
Step = Annotated[int, Field(ge=0, le=MAX_STEP, description="A step: 0 .. 2**53 - 1.")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id: 1 .. 2**31 - 1.")]
# Rows to skip in a list: no list holds more rows than there are ids.
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip: 0 .. 2**31 - 1.")]

# Strings, each bounded like its column.
Tag = _text(100)
RunName = _text(200)
OptimizerLabel = _text(32)
WorkerName = _text(200, min_length=1)
HostName = _text(200, min_length=1)
ShortLabel = _text(64, min_length=1)  # versions, device kinds, queue and kernel names
DeviceText = _text(200)  # one device as a worker describes it
TokenName = _text(100, min_length=1)
CreatorName = _text(200)  # runs.created_by: a username or a token name
Password = _text(1024, min_length=8)  # a user's; bounded: argon2 hashes any length, at a cost
Description = _text(10_000)
NoteText = _text(20_000)  # run_notes.text (markdown)
ErrorText = _text(100_000)
SpecText = _text(1_000_000)
MetricKeyName = _text(250, min_length=1)  # metric_keys.name
ParamKeyName = _text(250, min_length=1)  # a flat run parameter (run_params.key), e.g. lr
ProjectNameFilter = _text(100)
ComparisonName = _text(200, min_length=1)  # saved_comparisons.name
ActorName = _text(200, min_length=1)  # audit_events.actor: a username or a token's name
# A chosen column of the runs table: a flat run parameter or a metric's summary.
TableColumn = Annotated[
    _text(260, min_length=1),
    Field(
        pattern=r"^(param:.{1,250}|metric:.{1,250}\.(last|min|max))$",
        description="param:<key> (a flat parameter, e.g. param:optimizer.lr) or "
        "metric:<key>.last|min|max (a metric summary).",
    ),
]


def _username(value: object) -> object:
    # the sign-in's own normalization, so the name created is the name typed at sign-in
    return value.strip().lower() if isinstance(value, str) else value


# users.username: what sign-in accepts (64 characters, case-insensitive), in a plain alphabet.
Username = Annotated[
    str,
    BeforeValidator(_username),
    Field(
        pattern=r"^[a-z0-9][a-z0-9._@-]{0,63}$",
        description="Letters, digits, '.', '_', '@' or '-'; stored lower-case.",
    ),
]
Email = Annotated[_text(254, min_length=3), Field(pattern=r"^[^@\s]+@[^@\s]+$")]
DisplayName = _text(200)
TeamName = Annotated[_text(100, min_length=1), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")]


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number in 0..65535)
    except ValueError as exc:
        raise PydanticCustomError("url", "is not a URL: {reason}", {"reason": str(exc)}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError(
            "url", "must be an http:// or https:// URL with a host, e.g. https://example.com/hook"
        )
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise PydanticCustomError("url", "must not contain spaces or control characters")
    return value


# A URL LionLab sends to (webhooks.url): http(s) only.
WebhookUrl = Annotated[_text(2000, min_length=1), AfterValidator(_http_url)]

# A stored JSON object (a run's config).
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
# The same bounds on a value a model then reads: `Annotated[SomeModel, BoundedJson]`.
BoundedJson = BeforeValidator(_json_object)


def error_response(loc: list, msg: str, kind: str, status: int, path: str = "") -> JSONResponse:
    """An error answer; on the MLflow-compatible API's paths in MLflow's body (422 is 400)."""
    if path.startswith(MLFLOW_PREFIXES):
        code = CODE_OF_STATUS.get(status, "INVALID_PARAMETER_VALUE")
        return JSONResponse(error_json(code, msg), status_code=400 if status == 422 else status)
    return JSONResponse(error_body(loc, msg, kind), status_code=status)


# Every byte but quotes and brackets, deleted once the escapes that matter are gone.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')


def body_depth(raw: bytes) -> int:
    """Deepest nesting of objects/arrays in a JSON text, without parsing it."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_BODY_DEPTH:
        return 0  # too few brackets to be too deep: the common case, costs two scans
    # Escaped backslashes first, then escaped quotes: every quote left opens or closes a
    # string, so a bracket is inside a string exactly when an odd number of quotes precede
    # it. All of it runs in C over the bytes (a 100 KB MLflow batch: ~0.4 ms).
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = np.frombuffer(raw.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    outside = (np.cumsum(structure == ord('"'), dtype=np.int64) & 1) == 0
    opens = (structure == ord("[")) | (structure == ord("{"))
    closes = (structure == ord("]")) | (structure == ord("}"))
    return int(np.cumsum((opens.astype(np.int64) - closes) * outside).max(initial=0))


def _nul_query_param(query_string: bytes) -> str | None:
    """The name of a query parameter holding a NUL, if any."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    return None


# Uploads whose bodies are files, not JSON: their routes stream them to disk under their own
# size limit (LIONLAB_MAX_ARTIFACT_BYTES) instead of the body being read into memory here.
STREAMED_UPLOADS = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")


class RequestLimits:
    """ASGI middleware: the body size limit (413), the JSON depth limit and NUL in query
    parameters (422), for every route, before any of it is parsed or stored."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad_param = _nul_query_param(scope.get("query_string", b""))
        if bad_param is not None:
            await error_response(
                ["query", bad_param],
                "must not contain NUL (\\x00) characters",
                "nul_character",
                422,
                scope["path"],
            )(scope, receive, send)
            return
        settings = scope["app"].state.settings
        if scope["method"] == "PUT" and scope["path"].startswith(STREAMED_UPLOADS):
            # artifact files: streamed to disk by their route, which counts the bytes
            declared = dict(scope.get("headers", [])).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > settings.max_artifact_bytes:
                await error_response(
                    ["body"],
                    f"the file is over LIONLAB_MAX_ARTIFACT_BYTES ({settings.max_artifact_bytes})",
                    "body_too_large",
                    413,
                    scope["path"],
                )(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        raw, refusal = await _read_body(scope, receive, settings.max_body_bytes)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(raw, receive), send)


async def _read_body(scope, receive, limit: int) -> tuple[bytes, JSONResponse | None]:
    too_big = error_response(
        ["body"],
        f"the body is over the limit of {limit} bytes; send smaller batches, or a smaller "
        "config or spec",
        "body_too_large",
        413,
        scope["path"],
    )
    declared = dict(scope.get("headers", [])).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        return b"", too_big
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return b"", too_big
        more = message.get("more_body", False)
    raw = b"".join(chunks)
    if body_depth(raw) > MAX_BODY_DEPTH:
        msg = f"the body nests objects or arrays deeper than {MAX_BODY_DEPTH} levels"
        return raw, error_response(["body"], msg, "json_too_deep", 422, scope["path"])
    return raw, None


def _replay(raw: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()  # the client's disconnect, if the app waits for one

    return replay
