"""Expansion: a spec becomes its trials, each a full, validated JobSpec with a stable index."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lionlab.jobs import JobSpec, OptimizerName
from lionlab.sweeps.plan import build_job, plan_configs
from lionlab.sweeps.spec import SweepSpec


class Trial(BaseModel):
    """One configuration run with one seed; trials of a `group` differ only in their seed."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0, description="Stable id within the sweep: the launch order.")
    optimizer: OptimizerName
    seed: int
    params: dict[str, Any] = Field(description="The swept values: dotted JobSpec path -> value.")
    group: str = Field(description="Optimizer and swept values without the seed.")
    job: JobSpec
    paired_with: str | None = Field(
        default=None, description="Paired mode: the AdamW group this Lion configuration uses."
    )
    transfer_factor: float | None = Field(
        default=None, description="Paired mode: Lion lr = AdamW lr / factor, wd x factor."
    )

    @property
    def planned_steps(self) -> int:
        return self.job.steps


def expand(spec: SweepSpec) -> list[Trial]:
    """All trials of a spec, seed-major: every configuration with the first seed, then the next.

    Launching in index order therefore covers the whole space with one seed before repeating
    it, so a sweep stopped half way still compares every configuration.
    """
    configs = plan_configs(spec)
    trials: list[Trial] = []
    for seed in spec.seed_list():
        for config in configs:
            trial = Trial(
                index=len(trials),
                optimizer=config.optimizer,
                seed=seed,
                params=config.params,
                group=config.group,
                job=build_job(spec, config, seed),
                paired_with=config.paired_with,
                transfer_factor=config.transfer_factor,
            )
            trials.append(trial)
    return trials


def expansion_summary(spec: SweepSpec, trials: list[Trial]) -> dict[str, Any]:
    """What a spec expands to, for a dry run or the sweep page: counts, steps, rungs."""
    return {
        "trials": len(trials),
        "configurations": {
            opt: len({t.group for t in trials if t.optimizer == opt}) for opt in spec.optimizers
        },
        "groups": len({t.group for t in trials}),
        "seeds": spec.seed_list(),
        "total_steps": sum(t.planned_steps for t in trials),
        "paired": spec.paired_active(),
        "asha_rungs": spec.asha_rungs(),
        "max_parallel": spec.limits.max_parallel,
    }
