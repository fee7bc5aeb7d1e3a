"""Expansion: grid and random counts, distributions, seeds, paired Lion derivation, trial jobs."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from lionlab.sweeps import expand, expansion_summary, parse_spec


def _spec(**data):
    return parse_spec({"name": "s", **data})


def test_grid_is_the_product_of_the_axes_times_the_seeds():
    spec = _spec(
        optimizers=["adamw", "sgd"],
        seeds=[7, 11],
        space={
            "all": {"batch_size": [16, 32, 64]},
            "adamw": {"optimizer.lr": [1e-3, 3e-3]},
            "sgd": {"optimizer.momentum": [0.0, 0.9]},
        },
    )
    trials = expand(spec)
    assert len(trials) == (3 * 2 + 3 * 2) * 2
    assert [t.index for t in trials] == list(range(len(trials)))
    assert Counter(t.seed for t in trials) == {7: 12, 11: 12}
    groups = Counter(t.group for t in trials)
    assert len(groups) == 12 and set(groups.values()) == {2}
    adamw = {
        (t.params["batch_size"], t.params["optimizer.lr"]) for t in trials if t.optimizer == "adamw"
    }
    assert adamw == {(b, lr) for b in (16, 32, 64) for lr in (1e-3, 3e-3)}


def test_trials_are_seed_major_and_every_job_is_complete_and_validated():
    spec = _spec(
        base={"steps": 300, "batch_size": 8},
        optimizers=["adamw"],
        seeds=2,
        space={"adamw": {"optimizer.lr": [1e-3, 2e-3]}},
    )
    trials = expand(spec)
    assert [t.seed for t in trials] == [0, 0, 1, 1]
    for t in trials:
        assert t.job.stop_on_divergence is True
        assert t.job.seed == t.seed
        assert t.job.optimizer.name == "adamw"
        assert t.job.optimizer.lr == t.params["optimizer.lr"]
        assert t.job.optimizer.weight_decay == 0.01  # AdamW's default, not Lion's
        assert t.job.steps == 300 and t.job.batch_size == 8
    assert trials[0].group == trials[2].group != trials[1].group


def test_optimizer_specific_space_overrides_the_shared_one():
    spec = _spec(
        optimizers=["adamw", "sgd"],
        seeds=1,
        space={"all": {"batch_size": [16, 32]}, "sgd": {"batch_size": [128]}},
    )
    sizes = {(t.optimizer, t.params["batch_size"]) for t in expand(spec)}
    assert sizes == {("adamw", 16), ("adamw", 32), ("sgd", 128)}


def test_paired_mode_derives_lion_with_the_transfer_rule():
    spec = _spec(
        seeds=1,
        space={"adamw": {"optimizer.lr": [1e-3, 3e-3], "optimizer.weight_decay": [0.01]}},
        paired={"factors": [3, 10]},
    )
    trials = expand(spec)
    lion = [t for t in trials if t.optimizer == "lion"]
    got = sorted(
        (t.job.optimizer.lr, t.job.optimizer.weight_decay, t.transfer_factor) for t in lion
    )
    # lr / factor and weight decay x factor, by hand
    want = [(1e-4, 0.1, 10.0), (3e-4, 0.1, 10.0), (1e-3 / 3, 0.03, 3.0), (1e-3, 0.03, 3.0)]
    assert len(got) == len(want)
    for (lr, wd, f), (lr2, wd2, f2) in zip(got, want, strict=True):
        assert lr == pytest.approx(lr2, rel=1e-11) and wd == pytest.approx(wd2) and f == f2
    for t in lion:  # lr x weight decay is what AdamW's was
        source = next(a for a in trials if a.group == t.paired_with)
        assert t.job.optimizer.lr * t.job.optimizer.weight_decay == pytest.approx(
            source.job.optimizer.lr * source.job.optimizer.weight_decay
        )
    assert {t.paired_with for t in lion} == {t.group for t in trials if t.optimizer == "adamw"}


def test_paired_mode_uses_adamw_default_weight_decay_and_copies_shared_params():
    spec = _spec(seeds=1, space={"all": {"batch_size": [64]}, "adamw": {"optimizer.lr": [1e-3]}})
    lion = [t for t in expand(spec) if t.optimizer == "lion"]
    assert sorted(t.params["optimizer.weight_decay"] for t in lion) == pytest.approx([0.03, 0.1])
    assert sorted(t.params["optimizer.lr"] for t in lion) == pytest.approx([1e-4, 1e-3 / 3])
    assert {t.params["batch_size"] for t in lion} == {64}
    assert all(t.job.optimizer.betas == (0.9, 0.99) for t in lion)  # Lion's own defaults


def test_an_explicit_lion_space_turns_auto_pairing_off():
    spec = _spec(
        seeds=1, space={"adamw": {"optimizer.lr": [1e-3]}, "lion": {"optimizer.lr": [1e-4, 3e-4]}}
    )
    assert not spec.paired_active()
    lion = [t for t in expand(spec) if t.optimizer == "lion"]
    assert sorted(t.job.optimizer.lr for t in lion) == [1e-4, 3e-4]
    assert all(t.paired_with is None for t in lion)


def test_lion_own_space_crosses_the_derived_pairs():
    spec = _spec(
        seeds=1,
        space={
            "adamw": {"optimizer.lr": [1e-3]},
            "lion": {"optimizer.betas": [[0.9, 0.99], [0.95, 0.98]]},
        },
    )
    lion = [t for t in expand(spec) if t.optimizer == "lion"]
    assert len(lion) == 2 * 2
    assert {t.job.optimizer.betas for t in lion} == {(0.9, 0.99), (0.95, 0.98)}


def _random_spec(samples=400, seed=0, **extra):
    return _spec(
        optimizers=["adamw"],
        seeds=1,
        search={"method": "random", "samples": samples, "seed": seed},
        space={
            "adamw": {
                "optimizer.lr": {"dist": "log_uniform", "low": 1e-5, "high": 1e-1},
                "optimizer.weight_decay": {"dist": "uniform", "low": 0.0, "high": 0.2},
                "batch_size": {"dist": "log_uniform", "low": 8, "high": 512},
            }
        },
        limits={"max_trials": 1000},
        **extra,
    )


def test_random_sampling_is_reproducible_and_depends_on_its_seed():
    first = [t.params for t in expand(_random_spec(samples=20))]
    assert first == [t.params for t in expand(_random_spec(samples=20))]
    assert first != [t.params for t in expand(_random_spec(samples=20, seed=1))]


def test_log_uniform_gives_each_decade_the_same_share():
    lrs = np.array([t.params["optimizer.lr"] for t in expand(_random_spec())])
    assert lrs.min() >= 1e-5 and lrs.max() < 1e-1
    per_decade = np.histogram(np.log10(lrs), bins=[-5, -4, -3, -2, -1])[0]
    # 400 draws, 100 expected per decade; a linear-uniform draw would put ~90% in the top one
    assert per_decade.min() > 60 and per_decade.max() < 140
    assert abs(np.mean(np.log10(lrs)) + 3) < 0.2


def test_uniform_and_integer_fields():
    trials = expand(_random_spec())
    wds = np.array([t.params["optimizer.weight_decay"] for t in trials])
    assert wds.min() >= 0 and wds.max() < 0.2 and abs(wds.mean() - 0.1) < 0.015
    sizes = [t.params["batch_size"] for t in trials]
    assert all(isinstance(b, int) and 8 <= b <= 512 for b in sizes)
    assert all(isinstance(t.job.batch_size, int) for t in trials)


def test_random_search_honours_max_trials_when_samples_is_omitted():
    spec = _spec(
        seeds=2,
        search={"method": "random"},
        space={"adamw": {"optimizer.lr": {"dist": "log_uniform", "low": 1e-4, "high": 1e-2}}},
        limits={"max_trials": 25},
    )
    trials = expand(spec)
    # each AdamW sample brings 2 derived Lions: 3 configs x 2 seeds = 6 trials per sample
    assert len(trials) == 24
    assert Counter(t.optimizer for t in trials) == {"adamw": 8, "lion": 16}


def test_choice_duplicates_are_run_once():
    spec = _spec(
        optimizers=["sgd"],
        seeds=1,
        search={"method": "random", "samples": 50},
        space={"sgd": {"optimizer.lr": [0.1, 0.01]}},
    )
    assert sorted(t.params["optimizer.lr"] for t in expand(spec)) == [0.01, 0.1]


def test_shared_parameters_draw_the_same_values_for_every_optimizer():
    spec = _spec(
        optimizers=["adam", "sgd"],
        seeds=1,
        search={"method": "random", "samples": 5},
        space={"all": {"optimizer.weight_decay": {"dist": "uniform", "low": 0, "high": 0.1}}},
    )
    trials = expand(spec)
    by_opt = {
        o: [t.params["optimizer.weight_decay"] for t in trials if t.optimizer == o]
        for o in ("adam", "sgd")
    }
    assert by_opt["adam"] == by_opt["sgd"]


def test_summary_counts_trials_steps_and_rungs():
    spec = _spec(
        base={"steps": 900},
        seeds=2,
        space={"adamw": {"optimizer.lr": [1e-3]}},
        asha={"min_steps": 100},
    )
    summary = expansion_summary(spec, expand(spec))
    assert summary["trials"] == 6 and summary["groups"] == 3
    assert summary["total_steps"] == 6 * 900
    assert summary["asha_rungs"] == [100, 300]
    assert summary["configurations"] == {"adamw": 1, "lion": 2}
    assert math.isclose(sum(summary["configurations"].values()) * 2, summary["trials"])
