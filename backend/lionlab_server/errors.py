"""Errors a caller can cause; the API turns each into a 4xx naming the field and the fix."""

from __future__ import annotations

from collections.abc import Sequence


class NotFound(LookupError):
    """The object does not exist, or is outside the caller's scope (indistinguishable)."""

    def __init__(self, what: str, ident: object, field: str):
        self.what, self.ident, self.field = what, ident, field
        super().__init__(f"{what} {ident!r} does not exist or is not visible to this token")


class Conflict(Exception):
    """The request clashes with stored state (a taken name, a run already claimed)."""

    def __init__(self, message: str, field: str):
        self.field = field
        super().__init__(message)


class InputError(ValueError):
    """Bad input: `loc` is the path of the offending field, e.g. ("body", "metrics", "loss", 3)."""

    def __init__(self, loc: Sequence[str | int], message: str, status_code: int = 422):
        self.loc, self.status_code = tuple(loc), status_code
        super().__init__(message)


class Forbidden(PermissionError):
    """The token is valid but its scope does not allow this."""
