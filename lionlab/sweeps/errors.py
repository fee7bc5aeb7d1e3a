"""Spec errors that name the field at fault, e.g. "space.lion.optimizer.lr.low must be > 0"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

# Tags of the distribution union: pydantic puts them in an error's location; a reader does not
# write them, so they are left out of the field name.
_UNION_TAGS = frozenset({"uniform", "log_uniform", "choice"})

_CONSTRAINTS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


class SpecError(ValueError):
    """A spec that cannot run; `errors` holds (field, message) pairs ("" for the whole spec)."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(sentence(f, m) for f, m in self.errors))

    @property
    def fields(self) -> list[str]:
        """The dotted names of the fields at fault, for a 422 response."""
        return [f for f, _ in self.errors]

    def to_dict(self) -> list[dict[str, str]]:
        """JSON form: [{"field": ..., "message": ...}]."""
        return [{"field": f, "message": m} for f, m in self.errors]


class FieldError(ValueError):
    """Raised by a model validator to name the field at fault (relative to that model)."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(sentence(field, message))


def sentence(field: str, message: str) -> str:
    """ "field message" as one readable phrase ("base.steps must be >= 1 (got 0)")."""
    if not field or message.startswith(field):
        return message
    joiner = " " if message.startswith(("must ", "is ", "should ", "(")) else ": "
    return f"{field}{joiner}{message}"


def field_name(loc: Sequence[str | int], prefix: str = "") -> str:
    """Dotted field name of a pydantic location: ("space", "lion", "optimizer.lr", 0) ->
    "space.lion.optimizer.lr[0]"."""
    name = prefix
    for i, part in enumerate(loc):
        if isinstance(part, int):
            name += f"[{part}]"
        elif not (part in _UNION_TAGS and i > 0):
            name = f"{name}.{part}" if name else str(part)
    return name


def describe(error: dict[str, Any]) -> str:
    """A short message for one pydantic error, in the words of the spec format."""
    kind, ctx, got = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in _CONSTRAINTS:
        key, op = _CONSTRAINTS[kind]
        return f"must be {op} {_num(ctx.get(key))} (got {got!r})"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field; remove it or check its spelling"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else str(error["msg"])
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "finite_number":
        return f"must be a finite number (got {got!r})"
    if kind == "union_tag_invalid":
        return f"dist must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
    msg = str(error["msg"])
    for lead in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(lead)
    if msg.startswith("Input should"):
        msg = msg.replace("Input should", "should", 1) + f" (got {got!r})"
    return msg


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def errors_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field, message) pairs of a pydantic ValidationError; `prefix` names the model's place."""
    return [_error_of(e, prefix) for e in exc.errors()]


def _error_of(error: dict[str, Any], prefix: str) -> tuple[str, str]:
    where = field_name(error["loc"], prefix)
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        field = f"{where}.{cause.field}" if where and cause.field else where or cause.field
        return field, cause.message
    return where, describe(error)
