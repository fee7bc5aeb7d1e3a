"""lion_from_adamw: the paper's transfer rule (lr / factor, weight decay * factor)."""

from __future__ import annotations

import pytest

from lionlab.optim import DEFAULT_FACTOR, LionHparams, lion_from_adamw

# (AdamW lr, AdamW wd) -> (Lion lr, Lion wd), Chen et al. 2023.
PAPER_EXAMPLES = {
    "ViT-B/16": ((1e-3, 1.0), (1e-4, 10.0)),
    "diffusion": ((3e-4, 0.01), (3e-5, 0.1)),
    "7.5B LM": ((1e-3, 0.001), (1e-4, 0.01)),
}


@pytest.mark.parametrize("name", PAPER_EXAMPLES)
def test_default_factor_reproduces_the_paper_examples(name: str) -> None:
    (lr, wd), (lion_lr, lion_wd) = PAPER_EXAMPLES[name]
    result = lion_from_adamw(lr, wd)
    assert isinstance(result, LionHparams)
    assert result.lr == pytest.approx(lion_lr) and result.weight_decay == pytest.approx(lion_wd)
    assert result == pytest.approx((lion_lr, lion_wd))


@pytest.mark.parametrize("factor", [3.0, 5, 10.0])
def test_lion_lr_is_smaller_and_effective_decay_is_kept(factor: float) -> None:
    lr, wd = 2e-3, 0.05
    result = lion_from_adamw(lr, wd, factor=factor)
    assert result.lr == pytest.approx(lr / factor) and result.lr < lr
    assert result.lr * result.weight_decay == pytest.approx(lr * wd)


def test_default_factor_is_the_papers() -> None:
    assert DEFAULT_FACTOR == 10.0


@pytest.mark.parametrize("factor", [0.3, 1.0, 2.99, 10.01, 35.0])
def test_factor_outside_the_papers_range_is_rejected(factor: float) -> None:
    with pytest.raises(ValueError, match=r"factor must be in \[3, 10\].*smaller lr"):
        lion_from_adamw(1e-3, 0.1, factor=factor)


@pytest.mark.parametrize(
    "lr, wd, field",
    [(0.0, 0.1, "lr"), (-1e-3, 0.1, "lr"), (float("nan"), 0.1, "lr"), (1e-3, -0.1, "weight_decay")],
)
def test_invalid_adamw_settings_are_rejected(lr: float, wd: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        lion_from_adamw(lr, wd)
