"""Asynchronous successive halving (ASHA, Li et al. 2020) as a stopping rule on eval loss.

Rungs sit at min_steps * eta^k steps. When a trial reports its eval loss at a rung, it is
compared with every result reported at that rung so far in its bracket (by default, the trials
of the same optimizer and seed), itself included: with n results it goes on if it is among the best
max(1, n // eta), else it stops. A rung with fewer than `min_reports` results (default eta)
stops nothing yet, so the first trials to arrive always go on: the price of deciding at once
instead of pausing trials until a rung fills. Decisions never change once made, so the outcome
depends only on the order in which results arrive, and replaying that order gives the same
decisions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lionlab.detect.state import float_from_json, float_to_json

if TYPE_CHECKING:
    from lionlab.sweeps.expand import Trial
    from lionlab.sweeps.spec import SweepSpec

CONTINUE, STOP = "continue", "stop"
STATE_VERSION = 1
WHOLE_SWEEP = "sweep"  # the bracket of trials not assigned one


@dataclass(frozen=True)
class Decision:
    """What ASHA decided for a trial at a step, and why, in words a reader can check."""

    trial: int
    step: int
    rung: int | None  # 0-based rung index; None for a divergence past the last rung
    value: float  # the eval loss reported (NaN/inf kept); inf for a diverged trial
    action: str  # "continue" or "stop"
    cutoff: float | None  # the value of the worst trial still in the top 1/eta
    reports: int  # results at this rung in the bracket, this one included
    reason: str

    @property
    def stopped(self) -> bool:
        return self.action == STOP

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (non-finite floats as "nan", "inf")."""
        d = asdict(self)
        d["value"] = float_to_json(self.value)
        d["cutoff"] = None if self.cutoff is None else float_to_json(self.cutoff)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        cutoff = d.get("cutoff")
        return cls(
            **{
                **d,
                "value": float_from_json(d["value"]),
                "cutoff": None if cutoff is None else float_from_json(cutoff),
            }
        )


def _score(value: float) -> float:
    # NaN and +/-inf rank as the worst result (a diverged loss is never "better", not even -inf)
    return value if math.isfinite(value) else math.inf


def bracket_of(kind: str, trial: Trial) -> str:
    """The bracket a trial competes in: 'lion seed 0', 'lion', or the whole sweep."""
    if kind == "optimizer_seed":
        return f"{trial.optimizer} seed {trial.seed}"
    return trial.optimizer if kind == "optimizer" else WHOLE_SWEEP


class AshaDecider:
    """Continue/stop decisions for a sweep's trials; its state is plain JSON."""

    def __init__(
        self,
        rungs: Sequence[int],
        eta: int = 3,
        min_reports: int | None = None,
        brackets: Mapping[int, str] | None = None,
    ) -> None:
        if not rungs or any(b <= a for a, b in zip(rungs, rungs[1:], strict=False)) or rungs[0] < 1:
            raise ValueError(f"rungs must be increasing positive steps, got {list(rungs)}")
        if eta < 2:
            raise ValueError(f"eta must be >= 2, got {eta}")
        self.rungs = tuple(int(r) for r in rungs)
        self.eta = eta
        self.min_reports = min_reports or eta
        self.brackets = dict(brackets or {})
        self._results: dict[str, list[dict[int, float]]] = {}
        self._log: list[Decision] = []
        self._at_rung: dict[tuple[int, int], Decision] = {}
        self._stops: dict[int, Decision] = {}

    @classmethod
    def from_spec(cls, spec: SweepSpec, trials: Sequence[Trial]) -> AshaDecider:
        """The decider of a spec with ASHA; brackets from the spec (per optimizer and seed by
        default)."""
        if spec.asha is None:
            raise ValueError(f"sweep {spec.name!r} has no asha section")
        brackets = {t.index: bracket_of(spec.asha.bracket, t) for t in trials}
        return cls(spec.asha_rungs(), spec.asha.eta, spec.asha.min_reports, brackets)

    def rung_of(self, step: int) -> int | None:
        """The rung index at `step`, or None when no rung is there."""
        return self.rungs.index(step) if step in self.rungs else None

    def report(self, trial: int, step: int, value: float) -> Decision | None:
        """decide() at a rung step; None at any other step (so every eval point can be fed)."""
        return None if self.rung_of(step) is None else self.decide(trial, step, value)

    def decide(self, trial: int, step: int, value: float) -> Decision:
        """Continue or stop `trial`, whose eval loss at rung step `step` is `value`.

        Idempotent: a result already seen (a retried report), or any report from a trial
        already stopped, returns the earlier decision and changes nothing.
        """
        rung = self.rung_of(step)
        if rung is None:
            raise ValueError(f"step {step} is not a rung; rungs are at {list(self.rungs)}")
        earlier = self._stops.get(trial) or self._at_rung.get((trial, rung))
        if earlier is not None:
            return earlier
        results = self._rung(trial, rung)
        results[trial] = _score(value)
        decision = self._judge(trial, step, rung, value, results)
        self._record(decision)
        return decision

    def _judge(
        self, trial: int, step: int, rung: int, value: float, results: dict[int, float]
    ) -> Decision:
        n = len(results)
        head = f"at step {step}: rung {rung}, eval loss {value:.3g}"
        if not math.isfinite(value):
            reason = f"stopped {head} is not finite (counted as the worst result)"
            return Decision(trial, step, rung, value, STOP, None, n, reason)
        if n < self.min_reports:
            reason = (
                f"continued {head}: {n} of the {self.min_reports} results this rung needs "
                "before it stops anything"
            )
            return Decision(trial, step, rung, value, CONTINUE, None, n, reason)
        cutoff = sorted(results.values())[max(1, n // self.eta) - 1]
        action, cmp = (CONTINUE, "<=") if value <= cutoff else (STOP, ">")
        verb = "continued" if action == CONTINUE else "stopped"
        reason = f"{verb} {head} {cmp} top 1/{self.eta} (cutoff {cutoff:.3g} over {n} trials)"
        return Decision(trial, step, rung, value, action, cutoff, n, reason)

    def diverged(self, trial: int, step: int) -> Decision:
        """Record a trial that stopped itself on a non-finite loss at `step`.

        It counts as the worst result at the rung it was heading for (the first one at or after
        `step` it has not reported at), so the trials still running there are ranked among all
        the trials that got that far, not only the survivors.
        """
        if trial in self._stops:
            return self._stops[trial]
        ahead = [
            r for r, s in enumerate(self.rungs) if s >= step and (trial, r) not in self._at_rung
        ]
        rung = ahead[0] if ahead else None
        n = 0
        if rung is not None:
            results = self._rung(trial, rung)
            results[trial] = math.inf
            n = len(results)
        where = f"; counted as the worst result at rung {rung}" if rung is not None else ""
        reason = f"stopped at step {step}: diverged (non-finite loss){where}"
        decision = Decision(trial, step, rung, math.inf, STOP, None, n, reason)
        self._record(decision)
        return decision

    def _rung(self, trial: int, rung: int) -> dict[int, float]:
        bracket = self.brackets.get(trial, WHOLE_SWEEP)
        rungs = self._results.setdefault(bracket, [{} for _ in self.rungs])
        return rungs[rung]

    def _record(self, decision: Decision) -> None:
        self._log.append(decision)
        if decision.rung is not None:
            self._at_rung[(decision.trial, decision.rung)] = decision
        if decision.stopped:
            self._stops[decision.trial] = decision

    def decisions(self, trial: int | None = None) -> list[Decision]:
        """Every decision in the order made, or those of one trial."""
        return [d for d in self._log if trial is None or d.trial == trial]

    def stop_decision(self, trial: int) -> Decision | None:
        """The decision that stopped `trial`, if one did."""
        return self._stops.get(trial)

    def results_at(self, rung: int, bracket: str = WHOLE_SWEEP) -> dict[int, float]:
        """trial -> eval loss at a rung in one bracket (non-finite as inf), for views."""
        return dict(self._results.get(bracket, [{} for _ in self.rungs])[rung])

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON: the configuration and every decision (the results are replayed from them)."""
        return {
            "version": STATE_VERSION,
            "rungs": list(self.rungs),
            "eta": self.eta,
            "min_reports": self.min_reports,
            "brackets": [[t, b] for t, b in sorted(self.brackets.items())],
            "decisions": [d.to_dict() for d in self._log],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AshaDecider:
        """The decider a `state_dict()` was taken from."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown ASHA state version {state.get('version')!r}")
        brackets = {int(t): b for t, b in state["brackets"]}
        decider = cls(state["rungs"], state["eta"], state["min_reports"], brackets)
        for d in state["decisions"]:
            decision = Decision.from_dict(d)
            if decision.rung is not None:
                decider._rung(decision.trial, decision.rung)[decision.trial] = _score(
                    decision.value
                )
            decider._record(decision)
        return decider
