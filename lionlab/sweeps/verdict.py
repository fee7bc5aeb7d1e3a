"""The plain-language verdict of a sweep: what was measured, with its interval, and no more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lionlab.sweeps.results import TrialStatus

if TYPE_CHECKING:
    from lionlab.sweeps.analysis import GroupSummary, Speedup, SweepAnalysis
    from lionlab.sweeps.stats import DiffCI

CHALLENGER_FASTER = "challenger_faster"
BASELINE_FASTER = "baseline_faster"
NO_DIFFERENCE = "no_significant_difference"
NOT_REACHED = "target_not_reached"  # the challenger's best never reached the target
INSUFFICIENT = "insufficient_data"

NAMES = {
    "lion": "Lion",
    "distributed_lion": "Distributed Lion",
    "adamw": "AdamW",
    "adam": "Adam",
    "sgd": "SGD",
}


@dataclass(frozen=True)
class Verdict:
    """One of the statuses above and the sentences that say it."""

    status: str
    sentences: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "text": self.text, "sentences": list(self.sentences)}


def _name(optimizer: str) -> str:
    return NAMES.get(optimizer, optimizer)


def write_verdict(a: SweepAnalysis) -> Verdict:
    """The verdict on `a.challenger` against `a.baseline`."""
    base, chal = _name(a.baseline), _name(a.challenger)
    pending = []
    if a.pending_trials:
        unfinished = _plural(a.pending_trials, "trial")
        pending.append(
            f"Preliminary: {unfinished} {'has' if a.pending_trials == 1 else 'have'} not finished."
        )
    missing = [_name(o) for o in (a.baseline, a.challenger) if o not in a.best]
    if missing:
        text = (
            f"Insufficient data: no {' and no '.join(missing)} configuration ran all its "
            "seeds to the end without diverging or being stopped early, so there is nothing "
            "to compare."
        )
        return Verdict(INSUFFICIENT, [text, *pending])
    b, c = a.best[a.baseline], a.best[a.challenger]
    status, speed = _speed_clause(a.speedup_steps, base, chal, "in steps", c)
    sentences = [
        f"On this task {_lr_clause(b, c, base, chal)}; {speed}.",
        _loss_sentence(b, c, base, chal, a.final_loss_diff),
    ]
    if a.speedup_seconds is not None and a.speedup_seconds.ratio is not None:
        sentences.append(_wall_sentence(a.speedup_seconds, base, chal))
    sentences.append(_target_sentence(a, b, base))
    return Verdict(status, sentences + pending)


def _lr_clause(b: GroupSummary, c: GroupSummary, base: str, chal: str) -> str:
    if b.lr is None or c.lr is None:
        return f"{chal}'s and {base}'s best configurations are compared"
    lrs = f"({c.lr:.2g} vs {b.lr:.2g})"
    if c.lr <= b.lr:
        return f"{chal}'s best lr was {base}'s best / {b.lr / c.lr:.2g} {lrs}"
    return (
        f"{chal}'s best lr was {base}'s best x {c.lr / b.lr:.2g} {lrs}: larger, where the "
        "Lion paper finds 3-10x smaller"
    )


def _seeds(sp: Speedup, base: str, chal: str) -> str:
    nb, nc = len(sp.baseline_times), len(sp.challenger_times)
    return _plural(nb, "seed") if nb == nc else f"{nb} {base} and {_plural(nc, chal + ' seed')}"


def _speed_clause(
    sp: Speedup | None, base: str, chal: str, unit: str, c: GroupSummary
) -> tuple[str, str]:
    """(status, clause) for one speedup."""
    if sp is None:
        return INSUFFICIENT, f"insufficient data to time the target {unit}"
    if sp.ratio is None:
        if sp.challenger_censored == len(sp.challenger_times):
            n = len(sp.challenger_times)
            return NOT_REACHED, (
                f"{chal}'s best configuration never reached the target in "
                f"{c.seeds[0].steps_run} steps on any of its {_plural(n, 'seed')}, so it did "
                f"not match {base} here"
            )
        return INSUFFICIENT, (
            f"{base}'s best configuration never reached the target, so no speedup can be measured"
        )
    r, ci = sp.ratio, _interval(sp)
    faster = f"{chal} reached the target {r:.3g}x faster {unit}"
    slower = f"{chal} was slower: it reached the target {r:.3g}x as fast as {base} {unit}"
    measured = faster if r >= 1 else slower
    if sp.significant is None:
        return INSUFFICIENT, (
            f"{measured}, but from {_seeds(sp, base, chal)}: insufficient data for a "
            "confidence interval (run at least 2 seeds, better 5)" + _censoring(sp, chal)
        )
    if not sp.significant:
        return NO_DIFFERENCE, (
            f"no significant difference {unit} to the target ({chal}/{base} speedup "
            f"{r:.3g}x, {ci}, {_seeds(sp, base, chal)})" + _censoring(sp, chal)
        )
    status = CHALLENGER_FASTER if r > 1 else BASELINE_FASTER
    return status, f"{measured} ({ci}, {_seeds(sp, base, chal)})" + _censoring(sp, chal)


def _wall_sentence(sp: Speedup, base: str, chal: str) -> str:
    r, ci = sp.ratio, _interval(sp)
    if sp.significant is None:
        said = f"the {chal}/{base} ratio was {r:.3g}x ({ci}, {_seeds(sp, base, chal)})"
    elif not sp.significant:
        said = f"there was no significant difference ({chal}/{base} {r:.3g}x, {ci})"
    elif r > 1:
        said = f"{chal} was {r:.3g}x faster ({ci})"
    else:
        said = f"{chal} was slower, {r:.3g}x as fast as {base} ({ci})"
    return f"In wall-clock time {said}; this assumes both ran on the same hardware."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _interval(sp: Speedup) -> str:
    if sp.low is None or sp.high is None:
        return "no interval"
    return f"{sp.confidence * 100:.0f}% CI {sp.low:.3g} to {sp.high:.3g}"


def _censoring(sp: Speedup, chal: str) -> str:
    notes = []
    if sp.challenger_censored:
        notes.append(
            f"{sp.challenger_censored} of {len(sp.challenger_times)} {chal} seeds never reached "
            f"the target and count at their full length, which overstates {chal}'s speed"
        )
    if sp.baseline_censored:
        notes.append(
            f"{sp.baseline_censored} of {len(sp.baseline_times)} baseline seeds never reached "
            f"the target and count at their full length, which understates {chal}'s speed"
        )
    return "".join(f"; {n}" for n in notes)


def _loss_sentence(
    b: GroupSummary, c: GroupSummary, base: str, chal: str, diff: DiffCI | None
) -> str:
    def fmt(g: GroupSummary) -> str:
        sd = "" if g.final_sd is None else f" ± {g.final_sd:.2g}"
        n = g.count(TrialStatus.SUCCEEDED)
        return f"{g.final_mean:.4g}{sd} ({_plural(n, 'seed')})"

    said = f"Best final eval loss (mean ± sd over seeds): {chal} {fmt(c)}, {base} {fmt(b)}"
    if diff is None or diff.significant is None:
        return said + "."
    ci = f"{diff.confidence * 100:.0f}% CI {diff.low:+.3g} to {diff.high:+.3g}"
    if not diff.significant:
        return f"{said}; no significant difference ({chal} - {base} {diff.diff:+.3g}, {ci})."
    which = "lower" if diff.diff < 0 else "higher"
    return f"{said}; {chal}'s was {which} by {abs(diff.diff):.3g} ({ci})."


def _target_sentence(a: SweepAnalysis, b: GroupSummary, base: str) -> str:
    if a.target is None:
        return "No target loss could be set."
    if a.target_source == "given":
        return f"Target: eval loss {a.target:.4g} (given)."
    n = sum(p.final is not None for p in b.seeds)
    return (
        f"Target: eval loss {a.target:.4g}, the highest final eval loss among the "
        f"{_plural(n, 'seed')} of {base}'s best configuration (each of them reaches it)."
    )
