"""Search-space parameters: dotted JobSpec paths and the values or distributions swept over them.

A parameter is written in a spec as a list of values (`[1e-3, 3e-3]`, a grid axis, or a uniform
choice when sampling), a single value (fixed), or a distribution:
`{dist: uniform | log_uniform, low, high}` or `{dist: choice, values: [...]}`.
"""

from __future__ import annotations

import math
import zlib
from functools import cache
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo

from lionlab.jobs import JobSpec
from lionlab.sweeps.errors import FieldError, describe

# Paths a space may not sweep, and where their values come from instead.
RESERVED_PATHS = {
    "optimizer.name": "is set by the sweep from `optimizers`, not swept",
    "seed": "is set by the sweep from `seeds`, not swept",
    "stop_on_divergence": "is always on in a sweep (a trial stops at its first non-finite loss)",
}


class Uniform(BaseModel):
    """Uniform on [low, high)."""

    model_config = ConfigDict(extra="forbid")

    dist: Literal["uniform"]
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if not self.high > self.low:
            raise ValueError(f"high ({self.high:g}) must be > low ({self.low:g})")
        return self

    def draw(self, rng: np.random.Generator, n: int) -> list[float]:
        return rng.uniform(self.low, self.high, n).tolist()


class LogUniform(Uniform):
    """Log-uniform on [low, high): log(x) is uniform, so each decade gets the same share."""

    dist: Literal["log_uniform"]  # type: ignore[assignment]
    low: float = Field(gt=0.0, allow_inf_nan=False)

    def draw(self, rng: np.random.Generator, n: int) -> list[float]:
        return np.exp(rng.uniform(math.log(self.low), math.log(self.high), n)).tolist()


class Choice(BaseModel):
    """A list of values: a grid axis, or picked uniformly at random when sampling."""

    model_config = ConfigDict(extra="forbid")

    dist: Literal["choice"]
    values: list[Any] = Field(min_length=1)

    def draw(self, rng: np.random.Generator, n: int) -> list[Any]:
        return [self.values[i] for i in rng.integers(0, len(self.values), n)]


def _bare_values(data: Any) -> Any:
    # `[1e-3, 3e-3]` and `1e-3` are shorthands for a choice (a grid axis).
    if isinstance(data, (list, tuple)):
        return {"dist": "choice", "values": list(data)}
    if not isinstance(data, dict):
        return {"dist": "choice", "values": [data]}
    return data


Param = Annotated[
    Uniform | LogUniform | Choice,
    Field(discriminator="dist"),
    BeforeValidator(_bare_values),
]


@cache
def job_field(path: str) -> FieldInfo:
    """The JobSpec field a dotted path names ("optimizer.lr"); ValueError when there is none."""
    if path in RESERVED_PATHS:
        raise ValueError(RESERVED_PATHS[path])
    model: type[BaseModel] = JobSpec
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part not in model.model_fields:
            known = ", ".join(model.model_fields)
            raise ValueError(f"is not a JobSpec field path ({part!r} is not one of: {known})")
        info = model.model_fields[part]
        nested = isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
        if nested and i == len(parts) - 1:
            raise ValueError(f"is a group of fields; sweep one of them, e.g. {path}.<field>")
        if not nested and i < len(parts) - 1:
            raise ValueError(f"{part!r} has no sub-fields")
        if nested:
            model = info.annotation
    return info


@cache
def _adapter(path: str) -> TypeAdapter:
    info = job_field(path)
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)])


def numeric_kind(path: str) -> Literal["int", "float"] | None:
    """ "int" or "float" for numeric fields (distributions allowed), else None."""
    annotation = job_field(path).annotation
    if annotation is int:
        return "int"
    if annotation is float or annotation == (float | None):
        return "float"
    return None


def coerce_value(path: str, value: Any) -> Any:
    """`value` checked against the field's type and bounds, in JSON form; ValueError if invalid."""
    adapter = _adapter(path)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError as exc:
        raise ValueError(describe(exc.errors()[0])) from None


def check_param(path: str, param: Param, method: str, where: str) -> Param:
    """`param` with its values checked against the JobSpec field at `path`; `where` names it."""
    job_field_checked(path, where)
    if isinstance(param, Choice):
        values = [_coerced(path, v, f"{where}.values[{i}]") for i, v in enumerate(param.values)]
        return Choice(dist="choice", values=values)
    if method == "grid":
        raise FieldError(
            where,
            f"is a {param.dist} distribution, but a grid takes a list of values; list the "
            "values or set search.method to random",
        )
    kind = numeric_kind(path)
    if kind is None:
        raise FieldError(where, f"is not a numeric field; {param.dist} needs one")
    for bound in ("low", "high"):
        value = getattr(param, bound)
        _coerced(path, round(value) if kind == "int" else value, f"{where}.{bound}")
    return param


def job_field_checked(path: str, where: str) -> None:
    """job_field(path), with the error naming `where`."""
    try:
        job_field(path)
    except ValueError as exc:
        raise FieldError(where, str(exc)) from None


def _coerced(path: str, value: Any, where: str) -> Any:
    try:
        return coerce_value(path, value)
    except ValueError as exc:
        raise FieldError(where, str(exc)) from None


def sample(param: Param, path: str, n: int, rng: np.random.Generator) -> list[Any]:
    """`n` draws of a parameter; integer fields (batch_size, steps, ...) are rounded."""
    values = param.draw(rng, n)
    if not isinstance(param, Choice) and numeric_kind(path) == "int":
        return [int(round(v)) for v in values]
    return values


def sampling_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator per (sampling seed, keys): adding a parameter or an optimizer to a spec does
    not change the values drawn for the others."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])
