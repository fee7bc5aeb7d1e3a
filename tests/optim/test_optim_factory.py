"""build_optimizer: the worker's one way from (name, hyper-parameters) to an optimizer."""

from __future__ import annotations

import pytest
import torch

from lionlab.optim import Lion, build_optimizer


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


@pytest.mark.parametrize(
    "name, cls, hparams",
    [
        ("lion", Lion, {"lr": 1e-4, "betas": (0.95, 0.98), "weight_decay": 1.0}),
        ("adamw", torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.1}),
        ("adam", torch.optim.Adam, {"lr": 1e-3}),
        ("sgd", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    ],
)
def test_builds_each_optimizer_with_its_hyperparameters(name, cls, hparams) -> None:
    model = _model()
    opt = build_optimizer(name, model.parameters(), **hparams)
    assert type(opt) is cls
    for key, value in hparams.items():
        assert opt.param_groups[0][key] == value
    x = torch.randn(16, 4)
    before = [p.detach().clone() for p in model.parameters()]
    model(x).pow(2).mean().backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_uses_torchs_fused_kernel_on_cpu(name: str) -> None:
    opt = build_optimizer(name, _model().parameters(), lr=1e-3)
    assert opt.defaults["fused"] is True


def test_explicit_choice_of_kernel_is_respected() -> None:
    opt = build_optimizer("AdamW", _model().parameters(), lr=1e-3, fused=False)
    assert opt.defaults["fused"] is False


def test_accepts_param_groups() -> None:
    model = _model()
    groups = [
        {"params": model[0].parameters(), "weight_decay": 0.1},
        {"params": model[2].parameters(), "weight_decay": 0.0},
    ]
    opt = build_optimizer("lion", groups, lr=1e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]


def test_unknown_name_or_hyperparameter_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'rmsprop'.*adamw.*lion"):
        build_optimizer("rmsprop", _model().parameters())
    with pytest.raises(ValueError, match=r"lion: unknown hyper-parameter\(s\) \['momentum'\]"):
        build_optimizer("lion", _model().parameters(), lr=1e-4, momentum=0.9)
