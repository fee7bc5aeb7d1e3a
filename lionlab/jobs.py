"""The training job spec, shared by the API (validation, 422s, form schema) and the worker.

Every field has a default, so `JobSpec()` is a runnable job: the tiny character-level LM trained
with Lion at its paper defaults. Omitted optimizer fields take the chosen optimizer's defaults
(`OPTIMIZER_DEFAULTS`), e.g. `{"optimizer": {"name": "adamw"}}` gets lr 1e-3.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

TaskName = Literal["char_lm", "image_classifier", "user"]
ModelSize = Literal["tiny", "small", "medium"]
OptimizerName = Literal["lion", "distributed_lion", "adamw", "adam", "sgd"]
# Optimizers that take Lion's update rule, its defaults and its lr advice.
LION_FAMILY = frozenset({"lion", "distributed_lion"})

# Hyper-parameters an optimizer gets when the spec leaves them out. Lion follows Chen et al. 2023:
# lr 3-10x smaller than AdamW's and weight decay 3-10x larger, so lr * weight_decay stays the same
# (1e-4 * 0.1 == 1e-3 * 0.01). Weight decay is decoupled: p *= 1 - lr * weight_decay each step.
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "lion": {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.1},
    # Lion whose ranks vote with 1-bit update signs (lionlab.optim.DistributedLion); with one
    # process it is Lion exactly
    "distributed_lion": {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.1, "vote": "majority"},
    "adamw": {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.01, "eps": 1e-8},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0.0, "eps": 1e-8},
    "sgd": {"lr": 1e-2, "momentum": 0.9, "weight_decay": 0.0},
}

# The hyper-parameters each optimizer takes (what `OptimizerSpec.hparams` passes on).
_OPTIMIZER_HPARAMS: dict[str, tuple[str, ...]] = {
    "lion": ("lr", "betas", "weight_decay"),
    "distributed_lion": ("lr", "betas", "weight_decay", "vote"),
    "adamw": ("lr", "betas", "weight_decay", "eps"),
    "adam": ("lr", "betas", "weight_decay", "eps"),
    "sgd": ("lr", "momentum", "weight_decay"),
}

# With no AdamW baseline to compare against, a Lion lr above this draws a warning.
LION_LR_WARN_ABOVE = 1e-3

_ENTRYPOINT_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")

Beta = Annotated[float, Field(ge=0.0, lt=1.0)]
LrFactor = Annotated[float, Field(gt=0.0, le=1e6, allow_inf_nan=False)]


class OptimizerSpec(BaseModel):
    """Optimizer choice and hyper-parameters; omitted fields take the optimizer's defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"x-optimizer-defaults": OPTIMIZER_DEFAULTS},
    )

    name: OptimizerName = Field(
        default="lion",
        description="lion (Chen et al. 2023), distributed_lion (Liu et al. 2024: ranks combine "
        "1-bit update signs by a vote; Lion exactly in one process), adamw, adam or sgd "
        "(with momentum).",
    )
    lr: float = Field(
        default=OPTIMIZER_DEFAULTS["lion"]["lr"],
        gt=0.0,
        allow_inf_nan=False,
        description="Peak learning rate. Defaults: lion 1e-4, adamw 1e-3, adam 1e-3, sgd 1e-2. "
        "Lion wants a 3-10x SMALLER lr than AdamW (Chen et al. 2023), not a larger one.",
    )
    betas: tuple[Beta, Beta] = Field(
        default=OPTIMIZER_DEFAULTS["lion"]["betas"],
        description="(beta1, beta2), each in [0, 1). Defaults: lion (0.9, 0.99) (the paper uses "
        "(0.95, 0.98) for language models and as the first fix for instability); "
        "adam/adamw (0.9, 0.999). Unused by sgd.",
    )
    weight_decay: float = Field(
        default=OPTIMIZER_DEFAULTS["lion"]["weight_decay"],
        ge=0.0,
        allow_inf_nan=False,
        description="Decoupled weight decay: p *= 1 - lr * weight_decay each step (the "
        "PyTorch/optax convention; not divided by the initial lr). Defaults: lion 0.1, "
        "adamw 0.01 (Lion's 3-10x larger keeps lr * weight_decay the same), adam 0, sgd 0. "
        "For adam and sgd it is the classic L2 term added to the gradient.",
    )
    eps: float = Field(
        default=1e-8,
        gt=0.0,
        allow_inf_nan=False,
        description="Denominator epsilon of adam/adamw. Unused by lion and sgd.",
    )
    momentum: float = Field(
        default=0.9,
        ge=0.0,
        lt=1.0,
        description="Momentum of sgd, in [0, 1). Unused by the others.",
    )
    vote: Literal["majority", "average"] = Field(
        default="majority",
        description="How distributed_lion's ranks combine their update signs: majority (the "
        "sign of their sum) or average (their mean). Unused by the others.",
    )

    lr_scale: dict[Annotated[str, Field(min_length=1, max_length=250)], LrFactor] = Field(
        default_factory=dict,
        max_length=100,
        examples=[{"blocks.0.mlp.fc.weight": 10.0}],
        description="Per-tensor lr multipliers: a parameter's name (as model.named_parameters() "
        "gives it) -> the factor its lr is scaled by, on top of the schedule. For per-layer lr "
        "experiments; a name the model lacks fails the run at start.",
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_optimizer_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name", "lion") in OPTIMIZER_DEFAULTS:
            defaults = OPTIMIZER_DEFAULTS[data.get("name", "lion")]
            given = {k: v for k, v in data.items() if v is not None}
            return {**defaults, **given}
        return data

    def hparams(self) -> dict[str, Any]:
        """The keyword arguments this optimizer takes, for `build_optimizer(name, params, **hp)`."""
        return {k: getattr(self, k) for k in _OPTIMIZER_HPARAMS[self.name]}


class ScheduleSpec(BaseModel):
    """Learning-rate schedule: linear warmup, then decay to lr * min_lr_ratio at the last step."""

    model_config = ConfigDict(extra="forbid")

    warmup_steps: int = Field(
        default=0,
        ge=0,
        description="Steps of linear warmup from lr / warmup_steps up to lr; at most `steps`.",
    )
    decay: Literal["cosine", "linear", "constant"] = Field(
        default="cosine",
        description="Shape after warmup: cosine or linear down to lr * min_lr_ratio, or constant.",
    )
    min_lr_ratio: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Final lr as a fraction of the peak lr (cosine and linear decay).",
    )


class JobSpec(BaseModel):
    """One training run: what to train, with which optimizer, for how long, and where."""

    model_config = ConfigDict(extra="forbid")

    task: TaskName = Field(
        default="char_lm",
        description="char_lm: character-level transformer on the Python standard library's "
        "source; image_classifier: small CNN on generated shapes; user: your own "
        "'module:function' (see entrypoint).",
    )
    entrypoint: str | None = Field(
        default=None,
        validate_default=True,
        examples=["myteam.tasks.lm:build_task"],
        description="For task 'user' only: 'module:function' of a task builder. The worker "
        "imports it only if the module is under one of its LIONLAB_ALLOWED_TASK_MODULES.",
    )
    model_size: ModelSize = Field(
        default="tiny",
        description="Model preset of the built-in tasks: tiny runs the default 1000 steps in "
        "about a minute on a 2-core CPU; small and medium are meant for a GPU.",
    )
    optimizer: OptimizerSpec = Field(
        default_factory=OptimizerSpec,
        description="Optimizer and hyper-parameters; omitted ones take that optimizer's defaults.",
    )
    steps: int = Field(
        default=1000, ge=1, le=10_000_000, description="Optimizer steps (one batch each)."
    )
    schedule: ScheduleSpec = Field(
        default_factory=ScheduleSpec,
        description="Learning-rate schedule: warmup, then cosine, linear or constant.",
    )
    batch_size: int = Field(default=32, ge=1, le=65_536, description="Samples per step.")
    grad_clip: float | None = Field(
        default=1.0,
        gt=0.0,
        allow_inf_nan=False,
        description="Clip the global gradient norm to this value; null: no clipping. For Lion "
        "this does not bound the step (every coordinate moves by lr): it re-weights the "
        "gradient against the momentum.",
    )
    eval_interval: int = Field(
        default=50, ge=1, description="Evaluate every this many steps, and at the end."
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="Seeds initialisation and batch order; same spec and seed, same run on CPU.",
    )
    precision: Literal["fp32", "bf16"] = Field(
        default="fp32",
        description="bf16: forward pass under bf16 autocast, fp32 weights and optimizer state. "
        "On a CUDA GPU without bf16 support the run falls back to fp32 and says so.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: the worker's CUDA GPU if it has one, else its CPU."
    )
    checkpoint_interval: int = Field(
        default=100,
        ge=0,
        description="Save a checkpoint every this many steps and at the end; a retried job "
        "resumes from the last one. 0: no checkpoints.",
    )
    layer_stats_every: int = Field(
        default=10,
        ge=0,
        le=1_000_000,
        description="Log per-layer statistics (each parameter tensor's gradient norm, "
        "parameter norm and update-to-weight ratio) every this many steps; 0: never. The "
        "loop computes them for its global norms anyway: the cost is their upload.",
    )
    stop_on_divergence: bool = Field(
        default=False,
        description="Stop at the first non-finite loss (sweeps turn this on). Off: NaN/Inf "
        "losses are logged and training goes on.",
    )

    @field_validator("entrypoint")
    @classmethod
    def _check_entrypoint(cls, v: str | None, info: ValidationInfo) -> str | None:
        task = info.data.get("task")
        if task == "user" and v is None:
            raise ValueError("entrypoint is required when task is 'user' ('module:function')")
        if task is not None and task != "user" and v is not None:
            raise ValueError(f"entrypoint is only for task 'user', not {task!r}; remove it")
        if v is not None and not _ENTRYPOINT_RE.match(v):
            raise ValueError(f"entrypoint must look like 'package.module:function', got {v!r}")
        return v

    @field_validator("schedule")
    @classmethod
    def _check_warmup(cls, v: ScheduleSpec, info: ValidationInfo) -> ScheduleSpec:
        steps = info.data.get("steps")
        if steps is not None and v.warmup_steps > steps:
            raise ValueError(
                f"schedule.warmup_steps ({v.warmup_steps}) must be <= steps ({steps}); "
                "lower it or raise steps"
            )
        return v


def job_spec_schema() -> dict[str, Any]:
    """JSON schema of `JobSpec` (API docs and the browser form; per-optimizer defaults included)."""
    return JobSpec.model_json_schema()


def module_allowed(module: str, allowed_prefixes: Sequence[str]) -> bool:
    """True when `module` is a prefix or inside one: "a.b" allows "a.b" and "a.b.c", not "a.bc"."""
    for prefix in allowed_prefixes:
        prefix = prefix.strip().rstrip(".")
        if prefix and (module == prefix or module.startswith(prefix + ".")):
            return True
    return False


def lion_lr_warning(lion_lr: float, adamw_baseline_lr: float | None) -> str | None:
    """A warning when a Lion lr looks too large (above the AdamW baseline's, or above 1e-3)."""
    rule = (
        "Chen et al. 2023 (the Lion paper) find Lion's learning rate is typically 3-10x "
        "SMALLER than AdamW's, with weight decay 3-10x larger so that lr * weight_decay stays "
        "about the same. Advice to give Lion a larger lr than Adam is wrong."
    )
    if adamw_baseline_lr is not None:
        if lion_lr <= adamw_baseline_lr:
            return None
        low, high = adamw_baseline_lr / 10, adamw_baseline_lr / 3
        return (
            f"Lion lr {lion_lr:g} is larger than this project's AdamW baseline lr "
            f"{adamw_baseline_lr:g}. {rule} Try {low:.2g} to {high:.2g}."
        )
    if lion_lr > LION_LR_WARN_ABOVE:
        return (
            f"Lion lr {lion_lr:g} is above {LION_LR_WARN_ABOVE:g}. {rule} With no AdamW "
            "baseline in this project, start near 1e-4 (or run one and divide its lr by 3-10)."
        )
    return None
