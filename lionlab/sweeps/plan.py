"""From a spec to configurations: grid products, seeded samples, and Lion derived from AdamW.

A configuration is one optimizer with its swept values (dotted path -> value); a trial is a
configuration run with one seed. Counting happens before anything is materialised, so a spec
that would expand past its limits is rejected without building it.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lionlab.jobs import JobSpec, OptimizerSpec
from lionlab.sweeps.errors import FieldError, errors_of, sentence
from lionlab.sweeps.space import Choice, Param, sample, sampling_rng
from lionlab.transfer import lion_from_adamw

if TYPE_CHECKING:
    from lionlab.sweeps.spec import SweepSpec


@dataclass(frozen=True)
class Config:
    """One optimizer and its swept values; paired Lion configs name their AdamW source."""

    optimizer: str
    params: dict[str, Any]
    paired_with: str | None = None  # group of the AdamW configuration it was derived from
    transfer_factor: float | None = None  # Lion lr = AdamW lr / factor, wd = AdamW wd * factor

    @property
    def group(self) -> str:
        return group_key(self.optimizer, self.params)


def group_key(optimizer: str, params: dict[str, Any]) -> str:
    """Stable key of a configuration (seed left out): 'adamw {"optimizer.lr":0.001}'."""
    return f"{optimizer} {json.dumps(params, sort_keys=True, separators=(',', ':'))}"


def grid(space: dict[str, Param]) -> list[dict[str, Any]]:
    """Every combination of the listed values, first path varying slowest; [{}] when empty."""
    paths = list(space)
    axes = [_values(space[p]) for p in paths]
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*axes)]


def _values(param: Param) -> list[Any]:
    assert isinstance(param, Choice), "grid specs hold only value lists (checked on parse)"
    return param.values


def _draws(spec: SweepSpec, optimizer: str, space: dict[str, Param], n: int) -> list[dict]:
    # One generator per (scope, path): a shared ('all') parameter gets the same draws for every
    # optimizer, so their samples differ only in what is swept per optimizer.
    columns = {}
    for path, param in space.items():
        scope = optimizer if path in spec.space.get(optimizer, {}) else "all"
        columns[path] = sample(param, path, n, sampling_rng(spec.search.seed, scope, path))
    return [{p: columns[p][i] for p in space} for i in range(n)]


def _own_optimizers(spec: SweepSpec) -> list[str]:
    """Optimizers whose configurations come from the space (paired Lion is derived)."""
    return [o for o in spec.optimizers if not (o == "lion" and spec.paired_active())]


def samples_per_optimizer(spec: SweepSpec) -> int:
    """Random search: search.samples, else the most that fit limits.max_trials."""
    if spec.search.samples is not None:
        return spec.search.samples
    n_factors = len(spec.paired.factors) if spec.paired_active() else 0
    fixed = per_sample = 0
    for opt in _own_optimizers(spec):
        weight = 1 + (n_factors if opt == "adamw" else 0)  # each AdamW sample brings its Lions
        if spec.space_for(opt):
            per_sample += weight
        else:
            fixed += weight
    seeds = len(spec.seed_list())
    n = (spec.limits.max_trials // seeds - fixed) // per_sample if per_sample else 1
    if n < 1:
        raise FieldError(
            "limits.max_trials",
            f"({spec.limits.max_trials}) leaves no room for one random sample, which takes "
            f"{(per_sample + fixed) * seeds} trials with {seeds} seeds; raise it",
        )
    return n


def count_configs(spec: SweepSpec) -> dict[str, int]:
    """Configurations per optimizer, without building them (random: before de-duplication)."""
    is_grid = spec.search.method == "grid"
    counts = {}
    for opt in _own_optimizers(spec):
        space = spec.space_for(opt)
        size = math.prod(len(_values(p)) for p in space.values()) if is_grid else 1
        counts[opt] = size if is_grid or not space else samples_per_optimizer(spec)
    if spec.paired_active():
        extra = spec.space.get("lion", {})
        per = math.prod(len(_values(p)) for p in extra.values()) if is_grid else 1
        counts["lion"] = counts["adamw"] * len(spec.paired.factors) * per
    return {opt: counts[opt] for opt in spec.optimizers}


def plan_configs(spec: SweepSpec) -> list[Config]:
    """All configurations, grouped by optimizer in spec order, duplicates run once."""
    by_opt = {opt: _own_configs(spec, opt) for opt in _own_optimizers(spec)}
    if spec.paired_active():
        by_opt["lion"] = _paired_lion(spec, by_opt["adamw"])
    unique: dict[str, Config] = {}
    for opt in spec.optimizers:
        for config in by_opt[opt]:
            unique.setdefault(config.group, config)
    return list(unique.values())


def _own_configs(spec: SweepSpec, optimizer: str) -> list[Config]:
    space = spec.space_for(optimizer)
    if spec.search.method == "grid":
        points = grid(space)
    elif not space:
        points = [{}]
    else:
        points = _draws(spec, optimizer, space, samples_per_optimizer(spec))
    return [Config(optimizer, p) for p in points]


def _paired_lion(spec: SweepSpec, adamw_configs: list[Config]) -> list[Config]:
    """Lion configurations from each AdamW one and each transfer factor (x Lion's own space)."""
    factors = spec.paired.factors
    extra = spec.space.get("lion", {})
    n_pairs = len(adamw_configs) * len(factors)
    if spec.search.method == "grid":
        own_per_pair = [grid(extra)] * n_pairs  # Lion's own grid crosses every derived pair
    else:
        own_per_pair = [[d] for d in _draws(spec, "lion", extra, n_pairs)]  # one draw each
    out = []
    for i, adamw in enumerate(adamw_configs):
        lr, wd = adamw_hparams(spec, adamw.params)
        # batch size, schedule, steps... carry over; AdamW-only optimizer fields do not
        shared = {k: v for k, v in adamw.params.items() if not k.startswith("optimizer.")}
        for j, factor in enumerate(factors):
            hp = lion_from_adamw(lr, wd, factor)
            derived = {
                **shared,
                "optimizer.lr": _clean(hp.lr),
                "optimizer.weight_decay": _clean(hp.weight_decay),
            }
            for own in own_per_pair[i * len(factors) + j]:
                out.append(Config("lion", {**derived, **own}, adamw.group, factor))
    return out


def _clean(x: float) -> float:
    # 3e-3 / 10 is 0.00030000000000000003 in binary; 12 digits keep the value, drop the noise
    return float(f"{x:.12g}")


def adamw_hparams(spec: SweepSpec, params: dict[str, Any]) -> tuple[float, float]:
    """The lr and weight decay an AdamW trial with these swept values runs with."""
    fields = {**spec.base.get("optimizer", {}), "name": "adamw"}
    fields.update({k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("optimizer.")})
    optimizer = OptimizerSpec.model_validate(fields)
    return optimizer.lr, optimizer.weight_decay


def job_dict(spec: SweepSpec, config: Config, seed: int) -> dict[str, Any]:
    """The JobSpec fields of one trial: base, optimizer, swept values, seed, stop on divergence."""
    job = copy.deepcopy(spec.base)
    job["optimizer"] = {**job.get("optimizer", {}), "name": config.optimizer}
    for path, value in config.params.items():
        *parents, leaf = path.split(".")
        node = job
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    job.update(seed=seed, stop_on_divergence=True)
    return job


def build_job(spec: SweepSpec, config: Config, seed: int) -> JobSpec:
    """The validated JobSpec of one trial; FieldError naming the space entry at fault."""
    try:
        return JobSpec.model_validate(job_dict(spec, config, seed))
    except ValidationError as exc:
        field, message = errors_of(exc)[0]
        raise FieldError(
            _space_field(spec, config, field),
            f"gives an invalid job for {config.optimizer} {config.params}: "
            + sentence(field, message),
        ) from None


def _space_field(spec: SweepSpec, config: Config, job_field: str) -> str:
    for path in config.params:
        if (
            path == job_field
            or path.startswith(job_field + ".")
            or job_field.startswith(path + ".")
        ):
            scope = config.optimizer if path in spec.space.get(config.optimizer, {}) else "all"
            return f"space.{scope}.{path}"
    return f"base.{job_field}"


def check_expansion(spec: SweepSpec) -> None:
    """Reject a spec past its limits, with an invalid trial, or with rungs off eval steps."""
    seeds = spec.seed_list()
    counts = count_configs(spec)
    total = sum(counts.values()) * len(seeds)
    if total > spec.limits.max_trials:
        per_opt = " + ".join(f"{n} {opt}" for opt, n in counts.items())
        raise FieldError(
            "limits.max_trials",
            f"({spec.limits.max_trials}) is below the {total} trials this spec expands to "
            f"(({per_opt}) configurations x {len(seeds)} seeds); raise it, shrink the space, "
            "use fewer seeds or search.method random",
        )
    steps = 0
    for config in plan_configs(spec):
        job = build_job(spec, config, seeds[0])
        _check_rungs(spec, job)
        steps += job.steps * len(seeds)
    budget = spec.limits.max_total_steps
    if budget is not None and steps > budget:
        raise FieldError(
            "limits.max_total_steps",
            f"({budget}) is below the {steps} trial-steps this spec would run at full length; "
            "raise it, shorten the trials or shrink the space",
        )


def _check_rungs(spec: SweepSpec, job: JobSpec) -> None:
    for rung in spec.asha_rungs():
        if rung < job.steps and rung % job.eval_interval:
            raise FieldError(
                "asha.min_steps",
                f"({spec.asha.min_steps}) puts a rung at step {rung}, which is not an evaluation "
                f"step (eval_interval {job.eval_interval}); make it a multiple of eval_interval",
            )
