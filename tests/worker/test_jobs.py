"""JobSpec validation, per-optimizer defaults, the form schema and the Lion lr warning."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from lionlab.jobs import (
    OPTIMIZER_DEFAULTS,
    JobSpec,
    job_spec_schema,
    lion_lr_warning,
    module_allowed,
)


def test_defaults_are_a_runnable_lion_char_lm_job():
    spec = JobSpec()
    assert (spec.task, spec.model_size, spec.optimizer.name) == ("char_lm", "tiny", "lion")
    assert spec.optimizer.lr == 1e-4
    assert spec.optimizer.betas == (0.9, 0.99)
    assert spec.stop_on_divergence is False
    assert spec.precision == "fp32" and spec.device == "auto"


@pytest.mark.parametrize("name", sorted(OPTIMIZER_DEFAULTS))
def test_omitted_optimizer_fields_take_that_optimizers_defaults(name):
    opt = JobSpec(optimizer={"name": name}).optimizer
    for key, value in OPTIMIZER_DEFAULTS[name].items():
        assert getattr(opt, key) == value


def test_lion_defaults_follow_the_paper_rule_against_adamw():
    lion, adamw = OPTIMIZER_DEFAULTS["lion"], OPTIMIZER_DEFAULTS["adamw"]
    assert 3 <= adamw["lr"] / lion["lr"] <= 10
    assert 3 <= lion["weight_decay"] / adamw["weight_decay"] <= 10
    assert math.isclose(lion["lr"] * lion["weight_decay"], adamw["lr"] * adamw["weight_decay"])


def test_given_optimizer_fields_override_defaults_and_null_means_default():
    opt = JobSpec(optimizer={"name": "adamw", "lr": 3e-4, "betas": None}).optimizer
    assert opt.lr == 3e-4
    assert opt.betas == (0.9, 0.999)


def test_hparams_are_what_each_optimizer_takes():
    def keys(name):
        return set(JobSpec(optimizer={"name": name}).optimizer.hparams())

    assert keys("lion") == {"lr", "betas", "weight_decay"}
    assert keys("adamw") == keys("adam") == {"lr", "betas", "weight_decay", "eps"}
    assert keys("sgd") == {"lr", "momentum", "weight_decay"}


def test_json_round_trip():
    spec = JobSpec(task="image_classifier", optimizer={"name": "sgd", "lr": 0.05}, seed=3)
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec
    assert JobSpec.model_validate(json.loads(spec.model_dump_json())) == spec


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"task": "resnet"}, "task"),
        ({"model_size": "huge"}, "model_size"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"eval_interval": 0}, "eval_interval"),
        ({"seed": -1}, "seed"),
        ({"precision": "fp16"}, "precision"),
        ({"device": "tpu"}, "device"),
        ({"checkpoint_interval": -1}, "checkpoint_interval"),
        ({"grad_clip": 0}, "grad_clip"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"optimizer": {"name": "rmsprop"}}, "optimizer.name"),
        ({"optimizer": {"lr": 0}}, "optimizer.lr"),
        ({"optimizer": {"lr": -1e-4}}, "optimizer.lr"),
        ({"optimizer": {"lr": float("nan")}}, "optimizer.lr"),
        ({"optimizer": {"lr": float("inf")}}, "optimizer.lr"),
        ({"optimizer": {"betas": [0.9, 1.0]}}, "optimizer.betas.1"),
        ({"optimizer": {"betas": [-0.1, 0.99]}}, "optimizer.betas.0"),
        ({"optimizer": {"betas": [0.9]}}, "optimizer.betas"),
        ({"optimizer": {"weight_decay": -0.1}}, "optimizer.weight_decay"),
        ({"optimizer": {"eps": 0}}, "optimizer.eps"),
        ({"optimizer": {"name": "sgd", "momentum": 1.0}}, "optimizer.momentum"),
        ({"optimizer": {"lrr": 1e-4}}, "optimizer.lrr"),
        ({"schedule": {"warmup_steps": -1}}, "schedule.warmup_steps"),
        ({"schedule": {"decay": "step"}}, "schedule.decay"),
        ({"schedule": {"min_lr_ratio": 1.5}}, "schedule.min_lr_ratio"),
        ({"schedule": {"warmup_steps": 20}, "steps": 10}, "schedule"),
        ({"task": "user"}, "entrypoint"),
        ({"task": "user", "entrypoint": "no_function_part"}, "entrypoint"),
        ({"task": "user", "entrypoint": "bad module:f"}, "entrypoint"),
        ({"task": "char_lm", "entrypoint": "pkg.mod:build"}, "entrypoint"),
        ({"learning_rate": 1e-3}, "learning_rate"),
    ],
)
def test_out_of_range_values_fail_naming_the_field(fields, loc):
    with pytest.raises(ValidationError) as excinfo:
        JobSpec(**fields)
    locs = {".".join(str(p) for p in err["loc"]) for err in excinfo.value.errors()}
    assert any(found == loc or found.startswith(loc + ".") for found in locs), locs


def test_warmup_error_message_names_the_field_and_the_fix():
    with pytest.raises(ValidationError, match=r"schedule\.warmup_steps \(20\) must be <= steps"):
        JobSpec(steps=10, schedule={"warmup_steps": 20})


def test_user_task_with_entrypoint_is_valid():
    spec = JobSpec(task="user", entrypoint="myteam.tasks.lm:build_task")
    assert spec.entrypoint == "myteam.tasks.lm:build_task"


def test_schema_feeds_the_form_with_descriptions_and_per_optimizer_defaults():
    schema = job_spec_schema()
    assert schema == JobSpec.model_json_schema()
    optimizer = schema["$defs"]["OptimizerSpec"]
    assert "1e-4" in optimizer["properties"]["lr"]["description"]
    assert optimizer["x-optimizer-defaults"]["adamw"]["lr"] == 1e-3
    assert all("description" in field for field in schema["properties"].values())
    json.dumps(schema)  # serialisable as is


@pytest.mark.parametrize(
    ("module", "allowed", "ok"),
    [
        ("myteam.tasks", ["myteam.tasks"], True),
        ("myteam.tasks.lm", ["myteam.tasks"], True),
        ("myteam.tasksevil", ["myteam.tasks"], False),
        ("myteam", ["myteam.tasks"], False),
        ("other.tasks.lm", ["myteam.tasks", "other"], True),
        ("myteam.tasks.lm", ["myteam.tasks."], True),
        ("anything", [""], False),
        ("anything", [], False),
    ],
)
def test_module_allowed_matches_whole_module_path_prefixes(module, allowed, ok):
    assert module_allowed(module, allowed) is ok


def test_lion_lr_above_adamw_baseline_warns_with_the_papers_rule():
    warning = lion_lr_warning(3e-3, adamw_baseline_lr=1e-3)
    assert warning is not None
    assert "3-10x" in warning and "SMALLER" in warning
    assert "weight decay 3-10x larger" in warning
    assert "Chen et al. 2023" in warning
    assert "0.0001 to 0.00033" in warning  # the suggested range: baseline / 10 .. baseline / 3


@pytest.mark.parametrize("lion_lr", [1e-3, 3e-4, 1e-4])
def test_lion_lr_at_or_below_adamw_baseline_is_fine(lion_lr):
    assert lion_lr_warning(lion_lr, adamw_baseline_lr=1e-3) is None


def test_without_baseline_only_lr_above_1e_3_warns():
    assert lion_lr_warning(1e-3, None) is None
    assert lion_lr_warning(1e-4, None) is None
    warning = lion_lr_warning(2e-3, None)
    assert warning is not None and "SMALLER" in warning


def test_warning_never_gives_the_larger_lr_advice():
    for warning in (lion_lr_warning(1e-2, 1e-3), lion_lr_warning(1e-2, None)):
        assert "3.5x" not in warning
        assert "larger lr than Adam is wrong" in warning
