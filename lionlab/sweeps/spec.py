"""The sweep spec: a base job, a search space over dotted JobSpec paths, seeds, optimizers,
paired Lion-from-AdamW derivation, limits and early termination.

`parse_spec(data)` and `load_spec(text_or_path)` validate a spec completely, expansion included
(every trial's JobSpec, the trial and step limits), and raise `SpecError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lionlab.jobs import JobSpec, OptimizerName
from lionlab.json_values import JsonValueError, check_json_value
from lionlab.sweeps import plan
from lionlab.sweeps.errors import FieldError, SpecError, errors_of
from lionlab.sweeps.space import Param, check_param
from lionlab.transfer import FACTOR_RANGE

# Lion lr = AdamW lr / factor, weight decay x factor: both ends of the paper's 3-10 range, so a
# sweep shows which end suits the task (the single-run default, lionlab.transfer, is 10).
DEFAULT_FACTORS = (3.0, 10.0)
TRANSFERRED = ("optimizer.lr", "optimizer.weight_decay")
MAX_SEED_COUNT = 100
# Upper bounds keep every stored number (spec, trials, ASHA state) within what the database
# columns, orjson and the sweep page hold: an unbounded max_trials of 2**70 was accepted once
# and its page could never load.
MAX_TRIALS = 10_000
MAX_PARALLEL = 1_000
MAX_STEPS = 10_000_000  # JobSpec.steps' own bound
MAX_TOTAL_STEPS = 2**53 - 1
MAX_SEED = 2**31 - 1
SHARED_SPACE = "all"  # the space key whose parameters apply to every optimizer


class SearchConfig(BaseModel):
    """How the space is searched: every grid point, or seeded random samples."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["grid", "random"] = "grid"
    samples: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TRIALS,
        description="random: configurations drawn per optimizer; omitted: as many as "
        "limits.max_trials allows.",
    )
    seed: int = Field(
        default=0, ge=0, le=MAX_SEED, description="Sampling seed: same spec, same trials."
    )

    @model_validator(mode="after")
    def _samples_only_when_sampling(self) -> SearchConfig:
        if self.method == "grid" and self.samples is not None:
            raise FieldError("samples", "is for method random; a grid runs every point")
        return self


class PairedConfig(BaseModel):
    """Derive Lion's lr and weight decay from each AdamW configuration (Chen et al. 2023)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | Literal["auto"] = Field(
        default="auto",
        description="auto: on when both adamw and lion are swept and the space gives Lion no "
        "lr or weight decay of its own.",
    )
    factors: list[float] = Field(default_factory=lambda: list(DEFAULT_FACTORS), min_length=1)

    @field_validator("factors")
    @classmethod
    def _in_paper_range(cls, v: list[float]) -> list[float]:
        low, high = FACTOR_RANGE
        bad = [f for f in v if not low <= f <= high]
        if bad:
            raise ValueError(
                f"must all be in [{low:g}, {high:g}] (the paper's range: Lion takes a 3-10x "
                f"SMALLER lr than AdamW, never a larger one); got {bad}"
            )
        if len(set(v)) < len(v):
            raise ValueError(f"must not repeat a factor; got {v}")
        return v


class Limits(BaseModel):
    """Bounds a spec must expand within; exceeding one rejects the spec, nothing is cut."""

    model_config = ConfigDict(extra="forbid")

    max_trials: int = Field(
        default=200, ge=1, le=MAX_TRIALS, description="Trials (configs x seeds) at most."
    )
    max_parallel: int = Field(
        default=4, ge=1, le=MAX_PARALLEL, description="Trials the scheduler runs at once."
    )
    max_total_steps: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOTAL_STEPS,
        description="Sum of all trials' steps at most (none: no bound).",
    )


class AshaConfig(BaseModel):
    """Asynchronous successive halving on eval loss at rungs min_steps * eta^k < max_steps."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["eval_loss"] = "eval_loss"
    eta: int = Field(default=3, ge=2, le=100, description="Reduction factor: top 1/eta go on.")
    min_steps: int = Field(
        ge=1, le=MAX_STEPS, description="The first rung; a multiple of eval_interval."
    )
    max_steps: int | None = Field(
        default=None, ge=2, le=MAX_STEPS, description="Full length; omitted: the base job's steps."
    )
    min_reports: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TRIALS,
        description="Results a rung needs before it stops anything; omitted: eta.",
    )
    bracket: Literal["optimizer_seed", "optimizer", "sweep"] = Field(
        default="optimizer_seed",
        description="optimizer_seed: a trial competes only with trials of its own optimizer "
        "and seed (same initialisation and data order), so one optimizer's fast start cannot "
        "stop the other's trials, and a configuration that leads on every seed keeps all its "
        "seeds (the verdict needs them); optimizer: across seeds; sweep: one bracket.",
    )


class SweepSpec(BaseModel):
    """A sweep: trials = optimizers x configurations x seeds, each a full JobSpec."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    base: dict[str, Any] = Field(
        default_factory=dict, description="JobSpec fields every trial starts from."
    )
    optimizers: list[OptimizerName] = Field(default_factory=lambda: ["adamw", "lion"], min_length=1)
    seeds: int | list[int] = Field(
        default=3, description="A count n (seeds 0..n-1) or the list of seeds."
    )
    search: SearchConfig = Field(default_factory=SearchConfig)
    space: dict[str, dict[str, Param]] = Field(
        default_factory=dict,
        description="Per optimizer (or 'all'): dotted JobSpec path -> values or distribution.",
    )
    paired: PairedConfig = Field(default_factory=PairedConfig)
    limits: Limits = Field(default_factory=Limits)
    asha: AshaConfig | None = None

    @field_validator("optimizers")
    @classmethod
    def _unique_optimizers(cls, v: list[str]) -> list[str]:
        if len(set(v)) < len(v):
            raise ValueError(f"must not repeat an optimizer; got {v}")
        return v

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int):
            if not 1 <= v <= MAX_SEED_COUNT:
                raise ValueError(f"must be a count in [1, {MAX_SEED_COUNT}] or a list; got {v}")
            return v
        if not v or len(set(v)) < len(v) or any(not 0 <= s <= 2**31 - 1 for s in v):
            raise ValueError(f"must be distinct seeds in [0, 2**31 - 1], at least one; got {v}")
        return v

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        self._check_stored_form()
        self._check_base()
        self._check_space()
        self._check_paired()
        self._check_asha()
        plan.check_expansion(self)
        return self

    def _check_stored_form(self) -> None:
        # The spec is stored as JSON and read by every sweep page: no NUL, no 2**70.
        try:
            check_json_value(self.model_dump(mode="json"))
        except JsonValueError as exc:
            raise FieldError(exc.path, exc.message) from None

    def _check_base(self) -> None:
        optimizer = self.base.get("optimizer")
        if isinstance(optimizer, dict) and "name" in optimizer:
            raise FieldError("base.optimizer.name", "is set by the sweep; list `optimizers`")
        if "seed" in self.base:
            raise FieldError("base.seed", "is set by the sweep; list `seeds`")
        if self.base.get("stop_on_divergence") is False:
            raise FieldError(
                "base.stop_on_divergence", "cannot be false: sweeps stop diverged trials"
            )
        try:
            JobSpec.model_validate(self.base)
        except ValidationError as exc:
            field, message = errors_of(exc, "base")[0]
            raise FieldError(field, message) from None

    def _check_space(self) -> None:
        for key, params in self.space.items():
            if key != SHARED_SPACE and key not in self.optimizers:
                raise FieldError(
                    f"space.{key}",
                    f"is not a swept optimizer {self.optimizers} nor {SHARED_SPACE!r}",
                )
            for path, param in params.items():
                where = f"space.{key}.{path}"
                params[path] = check_param(path, param, self.search.method, where)

    def _check_paired(self) -> None:
        if self.paired.enabled is not True:
            return
        if not {"adamw", "lion"} <= set(self.optimizers):
            raise FieldError("paired.enabled", "needs both adamw and lion in optimizers")
        for key in (SHARED_SPACE, "lion"):
            for path in TRANSFERRED:
                if path in self.space.get(key, {}):
                    raise FieldError(
                        f"space.{key}.{path}",
                        "conflicts with paired mode (Lion's lr and weight decay are derived "
                        "from AdamW's); remove it or set paired.enabled to false",
                    )

    def _check_asha(self) -> None:
        if self.asha is None:
            return
        if self.asha.max_steps is None and any("steps" in p for p in self.space.values()):
            raise FieldError("asha.max_steps", "is required when steps is swept")
        top = self.asha_max_steps()
        if self.asha.min_steps >= top:
            raise FieldError(
                "asha.min_steps",
                f"({self.asha.min_steps}) must be < the full length {top}: "
                "no rung would be left to stop anything",
            )

    def seed_list(self) -> list[int]:
        """The seeds every configuration runs with."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def space_for(self, optimizer: str) -> dict[str, Param]:
        """The parameters swept for one optimizer: the shared ones, overridden by its own."""
        return {**self.space.get(SHARED_SPACE, {}), **self.space.get(optimizer, {})}

    def paired_active(self) -> bool:
        """Whether Lion's configurations are derived from AdamW's."""
        if self.paired.enabled is False:
            return False
        both = {"adamw", "lion"} <= set(self.optimizers)
        given = any(path in self.space_for("lion") for path in TRANSFERRED)
        return both and (self.paired.enabled is True or not given)

    def asha_max_steps(self) -> int:
        """Full trial length for the rungs: asha.max_steps, else the base job's steps."""
        if self.asha is not None and self.asha.max_steps is not None:
            return self.asha.max_steps
        return JobSpec.model_validate(self.base).steps

    def asha_rungs(self) -> list[int]:
        """Steps at which ASHA decides: min_steps * eta^k below the full length; [] without ASHA."""
        if self.asha is None:
            return []
        return rung_steps(self.asha.min_steps, self.asha.eta, self.asha_max_steps())


def rung_steps(min_steps: int, eta: int, max_steps: int) -> list[int]:
    """min_steps * eta^k for k = 0, 1, ... while below max_steps (reaching it is finishing)."""
    rungs, step = [], min_steps
    while step < max_steps:
        rungs.append(step)
        step *= eta
    return rungs


def parse_spec(data: Mapping[str, Any] | SweepSpec) -> SweepSpec:
    """A validated spec from plain data; SpecError naming each field at fault."""
    if isinstance(data, SweepSpec):
        return data
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(errors_of(exc)) from None


def load_spec(text_or_path: str | Path) -> SweepSpec:
    """A validated spec from JSON or YAML text, or from a .json / .yaml / .yml file."""
    text = str(text_or_path)
    if isinstance(text_or_path, Path) or _looks_like_path(text):
        text = Path(text_or_path).read_text(encoding="utf-8")
    return parse_spec_text(text)


def parse_spec_text(text: str) -> SweepSpec:
    """A validated spec from JSON or YAML text (never read as a path: the server uses this)."""
    data = _parse_text(text)
    if not isinstance(data, dict):
        raise SpecError([("", f"a sweep spec must be a mapping, got {type(data).__name__}")])
    try:  # before validation walks it: YAML aliases can make a few lines hold 10**9 values
        check_json_value(data)
    except JsonValueError as exc:
        raise SpecError([(exc.path, exc.message)]) from None
    return parse_spec(data)


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and text.strip().endswith((".json", ".yaml", ".yml"))


def _parse_text(text: str) -> Any:
    # RecursionError: brackets nested thousands deep; ValueError: an integer over Python's
    # 4300-digit conversion limit. Neither is a spec.
    try:
        return json.loads(text)
    except RecursionError:
        raise SpecError([("", "nests too deep to be a sweep spec")]) from None
    except (json.JSONDecodeError, ValueError):
        pass
    try:
        import yaml  # only YAML specs need PyYAML; JSON ones do not
    except ImportError:
        message = "YAML specs need PyYAML (pip install pyyaml); JSON ones work without it"
        raise SpecError([("", message)]) from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise SpecError([("", f"not valid JSON or YAML: {exc}")]) from None
    except RecursionError:
        raise SpecError([("", "nests too deep to be a sweep spec")]) from None
