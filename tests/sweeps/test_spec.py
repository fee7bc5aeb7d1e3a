"""Sweep specs: loading from JSON and YAML, defaults, and invalid specs naming the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lionlab.sweeps import SpecError, SweepSpec, expand, load_spec, parse_spec, rung_steps

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sweeps.md"

YAML_SPEC = """
name: lion-vs-adamw
base:
  steps: 900
  eval_interval: 50
seeds: 2
space:
  adamw:
    optimizer.lr: [1.0e-3, 3.0e-3]
    optimizer.weight_decay: [0.01]
asha:
  eta: 3
  min_steps: 100
"""


def _error(data: dict) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec({"name": "s", **data})
    return info.value


def test_yaml_text_json_text_and_files_load_the_same_spec(tmp_path):
    from_yaml = load_spec(YAML_SPEC)
    as_json = json.dumps(from_yaml.model_dump(mode="json"))
    (tmp_path / "s.json").write_text(as_json)
    (tmp_path / "s.yaml").write_text(YAML_SPEC)
    for spec in (
        load_spec(as_json),
        load_spec(tmp_path / "s.json"),
        load_spec(str(tmp_path / "s.yaml")),
    ):
        assert spec == from_yaml
    assert from_yaml.seed_list() == [0, 1]
    assert from_yaml.asha_rungs() == [100, 300]


def test_defaults_compare_adamw_and_lion_with_three_seeds():
    spec = parse_spec({"name": "s"})
    assert spec.optimizers == ["adamw", "lion"]
    assert spec.seed_list() == [0, 1, 2]
    assert spec.paired_active()
    assert spec.paired.factors == [3.0, 10.0]
    assert spec.limits.max_trials == 200 and spec.limits.max_parallel == 4


def test_yaml_exponents_without_a_dot_still_read_as_numbers():
    spec = load_spec("name: s\nspace:\n  adamw:\n    optimizer.lr: [1e-3]\n")
    assert spec.space["adamw"]["optimizer.lr"].values == [0.001]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (
            {
                "search": {"method": "random", "samples": 2},
                "space": {"lion": {"optimizer.lr": {"dist": "log_uniform", "low": -1, "high": 1}}},
                "paired": {"enabled": False},
            },
            "space.lion.optimizer.lr.low",
            "space.lion.optimizer.lr.low must be > 0",
        ),
        (
            {
                "search": {"method": "random", "samples": 2},
                "space": {"lion": {"optimizer.lr": {"dist": "uniform", "low": 0, "high": 1}}},
            },
            "space.lion.optimizer.lr.low",
            "must be > 0",
        ),
        (
            {"space": {"adamw": {"optimizer.lr": [1e-3, -1]}}},
            "space.adamw.optimizer.lr.values[1]",
            "must be > 0",
        ),
        ({"space": {"adamw": {"optimizer.lrr": [1e-3]}}}, "space.adamw.optimizer.lrr", "not a"),
        ({"space": {"adamw": {"seed": [1, 2]}}}, "space.adamw.seed", "seeds"),
        ({"space": {"sgd": {"optimizer.lr": [0.1]}}}, "space.sgd", "not a swept optimizer"),
        ({"base": {"steps": 0}}, "base.steps", "must be >= 1"),
        ({"base": {"optimizer": {"name": "sgd"}}}, "base.optimizer.name", "optimizers"),
        ({"base": {"stop_on_divergence": False}}, "base.stop_on_divergence", "cannot be false"),
        ({"paired": {"factors": [2, 3]}}, "paired.factors", "[3, 10]"),
        ({"optimizers": ["lion", "lion"]}, "optimizers", "repeat"),
        ({"optimizers": ["rmsprop"]}, "optimizers[0]", "lion"),
        ({"seeds": 0}, "seeds", "count"),
        ({"seeds": [1, 1]}, "seeds", "distinct"),
        ({"limits": {"max_parallel": 0}}, "limits.max_parallel", "must be >= 1"),
        ({"asha": {"min_steps": 75}}, "asha.min_steps", "eval_interval"),
        ({"asha": {"min_steps": 1000}}, "asha.min_steps", "must be < the full length"),
        ({"asha": {"min_steps": 100, "eta": 1}}, "asha.eta", "must be >= 2"),
        ({"colour": "red"}, "colour", "not a known field"),
        ({"search": {"samples": 4}}, "search.samples", "method random"),
        (
            {
                "space": {
                    "adamw": {"optimizer.lr": {"dist": "log_uniform", "low": 1e-4, "high": 1e-2}}
                }
            },
            "space.adamw.optimizer.lr",
            "grid takes a list",
        ),
        (
            {"space": {"lion": {"optimizer.lr": [1e-4]}}, "paired": {"enabled": True}},
            "space.lion.optimizer.lr",
            "paired mode",
        ),
        ({"optimizers": ["lion", "sgd"], "paired": {"enabled": True}}, "paired.enabled", "adamw"),
        (
            {"base": {"steps": 200}, "space": {"all": {"schedule.warmup_steps": [100, 500]}}},
            "space.all.schedule.warmup_steps",
            "must be <= steps (200)",
        ),
    ],
)
def test_invalid_specs_name_the_field(data, field, words):
    error = _error(data)
    assert error.fields[0] == field
    assert words in str(error)
    assert error.to_dict()[0]["field"] == field


def test_the_example_message_reads_as_one_sentence():
    error = _error(
        {
            "search": {"method": "random", "samples": 2},
            "space": {"lion": {"optimizer.lr": {"dist": "log_uniform", "low": -1, "high": 1e-3}}},
        }
    )
    assert str(error) == "space.lion.optimizer.lr.low must be > 0 (got -1)"


def test_a_grid_past_max_trials_is_rejected_with_the_count_not_truncated():
    space = {"adamw": {"optimizer.lr": [1e-3, 2e-3, 3e-3], "batch_size": [16, 32]}}
    error = _error({"space": space, "limits": {"max_trials": 40}})
    # adamw 6 configs, Lion 6 x 2 factors = 12, x 3 seeds = 54 trials
    assert error.fields == ["limits.max_trials"]
    assert "(40) is below the 54 trials" in str(error)
    assert parse_spec({"name": "s", "space": space, "limits": {"max_trials": 54}})


def test_a_spec_past_its_step_budget_is_rejected():
    data = {"base": {"steps": 500}, "optimizers": ["lion"], "seeds": 2}
    error = _error({**data, "limits": {"max_total_steps": 999}})
    assert error.fields == ["limits.max_total_steps"]
    assert "1000 trial-steps" in str(error)
    assert parse_spec({"name": "s", **data, "limits": {"max_total_steps": 1000}})


def test_random_search_too_small_for_one_sample_says_so():
    error = _error(
        {
            "search": {"method": "random"},
            "space": {
                "adamw": {"optimizer.lr": {"dist": "log_uniform", "low": 1e-4, "high": 1e-2}}
            },
            "limits": {"max_trials": 5},
        }
    )
    assert error.fields == ["limits.max_trials"]


def test_invalid_text_is_a_spec_error():
    with pytest.raises(SpecError, match="mapping"):
        load_spec("- just\n- a list\n")
    with pytest.raises(SpecError, match="not valid JSON or YAML"):
        load_spec("name: [unclosed\n")


def test_a_validated_spec_passes_through_parse_spec():
    spec = parse_spec({"name": "s"})
    assert parse_spec(spec) is spec
    assert isinstance(SweepSpec.model_validate(spec.model_dump()), SweepSpec)


def test_rungs_grow_by_eta_below_the_full_length():
    assert rung_steps(100, 3, 2700) == [100, 300, 900]
    assert rung_steps(100, 2, 1000) == [100, 200, 400, 800]
    assert rung_steps(100, 3, 100) == []


def test_the_documented_example_expands_as_the_docs_say():
    example = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.S).group(1)
    spec = load_spec(example)
    trials = expand(spec)
    assert len(trials) == 72
    assert sum(t.optimizer == "lion" for t in trials) == 16 * 3
    assert spec.asha_rungs() == [100, 300, 900]
