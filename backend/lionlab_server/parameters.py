"""A run's parameters, flat: the optimizer, its job spec's hyper-parameters, its config.

What the dashboard shows as a run's parameters, what the runs filter grammar's `params.<key>`
matches (`store/run_params.py` keeps them as indexed rows) and what the export writes as
`config.*` columns. Neutral ground: the store and the views both read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from lionlab.jobs import JobSpec


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def flatten(value: Mapping[str, Any]) -> dict[str, Any]:
    """A nested config as one level of dotted paths (`{"optimizer": {"lr": 1}}` ->
    `{"optimizer.lr": 1}`); an empty object is a value of its own."""
    out: dict[str, Any] = {}
    _flatten("", dict(value), out)
    return {k: v for k, v in out.items() if k}


def _job_params(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job spec's parameters; optimizer hyper-parameters lose their prefix, and those the
    optimizer does not use (Lion's eps, AdamW's momentum) are left out."""
    try:
        spec = JobSpec.model_validate(job)
    except ValidationError:
        out: dict[str, Any] = {}
        _flatten("", dict(job), out)
        return out
    dumped = spec.model_dump(mode="json", exclude={"optimizer"})
    out = {"optimizer": spec.optimizer.name}
    for k, v in spec.optimizer.hparams().items():
        out[k] = list(v) if isinstance(v, tuple) else v
    _flatten("", dumped, out)
    return out


def params_of(
    optimizer: str | None, job: Mapping[str, Any] | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """`run_params` from a run's columns, for reads that select columns rather than runs
    (the project overview): the config's values over the job spec's."""
    out: dict[str, Any] = {"optimizer": optimizer}
    if job is not None:
        out |= _job_params(job)
    _flatten("", dict(config), out)
    return {k: v for k, v in out.items() if k}
