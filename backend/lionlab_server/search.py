"""The runs filter grammar: MLflow's `search_runs` filter and `order_by`, with LionLab's
extensions, parsed here for the runs list (`?filter=`), the dashboard, the export and
MLflow's runs/search alike; store/run_search.py compiles the clauses to SQL (docs/search.md).

A filter is clauses joined by AND: `metrics.loss < 1.5 and params.optimizer = 'lion'`.
An identifier is `<kind>.<key>`: kind is metric(s), param(s)/parameter(s), tag(s) or
attribute(s)/attr/run; the key is split off at the first dot (so `metrics.eval.loss` is the
metric `eval.loss`) and may be quoted with backticks or double quotes when it holds spaces.
Metrics and the time attributes compare with numbers; params, tags and the other attributes
with quoted strings, also by LIKE / ILIKE (% and _ wildcards) and IN / NOT IN lists.
A run that lacks the metric, param or tag a clause names does not match it, as in MLflow.

Extensions MLflow clients never send: `min(metrics.<key>)` / `max(metrics.<key>)` (the
summary's least / largest non-NaN value; plain `metrics.<key>` is the last value), and a
param compared with an unquoted number (`params.lr < 1e-3`) compares the param's JSON number
(a param that is not a number does not match). The Python evaluation below (`matches`,
`sort_runs`) is the reference the SQL compiler is tested against.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
}  # fmt: skip
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "duration"}
STRING_ATTRIBUTES = {
    "run_id", "run_name", "status", "artifact_uri", "user_id", "lifecycle_stage",
    "optimizer", "created_by",
}  # fmt: skip
# search_experiments names its attributes bare (`name LIKE 'lion%'`) or as attribute.<name>.
EXPERIMENT_NUMERIC = {"creation_time", "last_update_time"}
EXPERIMENT_ATTRIBUTES = {"name"} | EXPERIMENT_NUMERIC
ATTRIBUTE_ALIASES = {
    "created": "start_time", "run name": "run_name", "runname": "run_name", "name": "run_name",
}  # fmt: skip
SUMMARIES = ("min", "max")  # min(metrics.x) / max(metrics.x); "last" is plain metrics.x
NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}
COMPARE = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


class BadSearch(ValueError):
    """The filter or order_by cannot be parsed; the message says where and why."""


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag or attribute
    key: str
    op: str
    value: Any  # float for numeric clauses, str, or tuple[str, ...] for IN / NOT IN
    summary: str = "last"  # a metric's last, min or max value

    @property
    def numeric(self) -> bool:
        """Compared as numbers: metrics, time attributes, and params given a number."""
        return _numeric(self.kind, self.key) or isinstance(self.value, float)


@dataclass(frozen=True)
class OrderBy:
    kind: str
    key: str
    ascending: bool
    summary: str = "last"

    @property
    def numeric(self) -> bool:
        return _numeric(self.kind, self.key)


@dataclass
class RunView:
    """What a clause can look at: a run's latest metric values (and each metric's least and
    largest non-NaN value), params (as text, and those that are numbers as floats), tags
    and attributes."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    metric_min: Mapping[str, float] = field(default_factory=dict)
    metric_max: Mapping[str, float] = field(default_factory=dict)
    param_numbers: Mapping[str, float] = field(default_factory=dict)

    def value(self, kind: str, key: str, summary: str = "last", number: bool = False) -> Any:
        if kind == "metric":
            source = {"last": self.metrics, "min": self.metric_min, "max": self.metric_max}
            return source[summary].get(key)
        if kind == "param":
            return (self.param_numbers if number else self.params).get(key)
        return (self.tags if kind == "tag" else self.attributes).get(key)


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<quoted>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<backtick>`[^`]*`)
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<op><=|>=|!=|<>|==|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][\w.\-/:]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(type, text, position) for each token; dotted identifiers split at a backtick or
    double-quoted key are joined back (`tags."my key"` is one identifier)."""
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise BadSearch(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    joined: list[tuple[str, str, int]] = []
    for tok in out:
        prev = joined[-1] if joined else None
        if (
            prev
            and prev[0] == "word"
            and prev[1].endswith(".")
            and tok[0] in ("backtick", "quoted")
            and tok[1].startswith(("`", '"'))
        ):
            joined[-1] = ("ident", prev[1] + tok[1][1:-1], prev[2])
        else:
            joined.append(tok)
    return joined


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body)


def _identifier(tok: tuple[str, str, int], experiments: bool = False) -> tuple[str, str]:
    typ, text, pos = tok
    if experiments and typ == "word" and text.lower() in EXPERIMENT_ATTRIBUTES:
        return "attribute", text.lower()
    if typ not in ("word", "ident") or "." not in text:
        raise BadSearch(
            f"expected an identifier like metrics.loss or params.lr at position {pos}, got {text!r}"
        )
    prefix, key = text.split(".", 1)
    kind = KINDS.get(prefix.lower())
    if kind is None or (experiments and kind in ("metric", "param")):
        use = "tags. or attribute." if experiments else "metrics., params., tags. or attributes."
        raise BadSearch(f"unknown entity type {prefix!r} at position {pos}: use {use}")
    if not key:
        raise BadSearch(f"{text!r} at position {pos} names no key")
    if kind == "attribute":
        known_keys = (
            EXPERIMENT_ATTRIBUTES if experiments else NUMERIC_ATTRIBUTES | STRING_ATTRIBUTES
        )
        key = key.lower() if experiments else ATTRIBUTE_ALIASES.get(key.lower(), key)
        if key not in known_keys:
            known = ", ".join(sorted(known_keys))
            raise BadSearch(f"unknown attribute {key!r}; searchable attributes: {known}")
    return kind, key


def _subject(
    toks: list[tuple[str, str, int]], i: int, experiments: bool
) -> tuple[str, str, str, int]:
    """(kind, key, summary, index after it) of the identifier at toks[i], which may be
    wrapped in min( ) or max( ) when it names a metric."""
    if i >= len(toks):
        raise BadSearch("the filter ends in the middle of a clause")
    typ, text, pos = toks[i]
    wrapped = (
        not experiments
        and typ == "word"
        and text.lower() in SUMMARIES
        and i + 1 < len(toks)
        and toks[i + 1][1] == "("
    )
    if not wrapped:
        kind, key = _identifier(toks[i], experiments)
        return kind, key, "last", i + 1
    if i + 2 >= len(toks):
        raise BadSearch("the filter ends in the middle of a clause")
    kind, key = _identifier(toks[i + 2], experiments)
    if kind != "metric":
        raise BadSearch(f"{text}( ) at position {pos} takes a metric, e.g. {text}(metrics.loss)")
    if i + 3 >= len(toks) or toks[i + 3][1] != ")":
        raise BadSearch(f"{text}( at position {pos} is not closed")
    return kind, key, text.lower(), i + 4


def _numeric(kind: str, key: str) -> bool:
    return kind == "metric" or (
        kind == "attribute" and key in NUMERIC_ATTRIBUTES | EXPERIMENT_NUMERIC
    )


def parse_filter(text: str | None, experiments: bool = False) -> list[Clause]:
    """The clauses of a filter string (empty or None: no clauses); `experiments`:
    search_experiments' grammar (tags and the experiment attributes)."""
    if text is None or not text.strip():
        return []
    toks, i, clauses = _tokens(text), 0, []

    def take() -> tuple[str, str, int]:
        nonlocal i
        if i >= len(toks):
            raise BadSearch("the filter ends in the middle of a clause")
        i += 1
        return toks[i - 1]

    while True:
        kind, key, summary, i = _subject(toks, i, experiments)
        op = _comparator(take, kind, key)
        if op in ("IN", "NOT IN"):
            value: Any = _string_list(take, op)
        else:
            value = _value(take(), kind, key, op)
        clauses.append(Clause(kind, key, op, value, summary))
        if i == len(toks):
            return clauses
        typ, word, pos = take()
        if word.upper() != "AND":
            raise BadSearch(f"expected AND at position {pos}, got {word!r} (OR is not supported)")


def _comparator(take, kind: str, key: str) -> str:
    typ, word, pos = take()
    op = word.upper() if typ == "word" else {"==": "=", "<>": "!="}.get(word, word)
    if op == "NOT":
        nxt = take()
        if nxt[1].upper() != "IN":
            raise BadSearch(f"expected IN after NOT at position {nxt[2]}")
        op = "NOT IN"
    if typ not in ("op", "word") or op not in NUMERIC_OPS | STRING_OPS:
        raise BadSearch(f"unknown comparator {word!r} at position {pos}")
    # a param compares as a string, or as a number when given one (checked with the value)
    allowed = NUMERIC_OPS if _numeric(kind, key) else STRING_OPS
    if kind == "param":
        allowed = NUMERIC_OPS | STRING_OPS
    if op not in allowed:
        raise BadSearch(
            f"{op} does not apply to {kind} {key!r}; use one of {', '.join(sorted(allowed))}"
        )
    return op


def _string_list(take, op: str) -> tuple[str, ...]:
    if take()[1] != "(":
        raise BadSearch(f"{op} takes a parenthesised list of quoted strings")
    items = []
    while True:
        vt, vtext, vpos = take()
        if vt != "quoted":
            raise BadSearch(f"expected a quoted string at position {vpos}, got {vtext!r}")
        items.append(_unquote(vtext))
        sep = take()
        if sep[1] == ")":
            return tuple(items)
        if sep[1] != ",":
            raise BadSearch(f"expected , or ) at position {sep[2]}")


def _value(tok: tuple[str, str, int], kind: str, key: str, op: str) -> float | str:
    vt, vtext, vpos = tok
    if _numeric(kind, key) or (kind == "param" and vt == "number"):
        if vt != "number":
            raise BadSearch(
                f"{kind} {key!r} compares with a number; got {vtext!r} at position {vpos}"
            )
        if op not in NUMERIC_OPS:
            raise BadSearch(
                f"{op} does not apply to a number; use one of {', '.join(sorted(NUMERIC_OPS))}"
            )
        return float(vtext)
    if op not in STRING_OPS:
        raise BadSearch(
            f"{op} does not apply to {kind} {key!r} and a string; use one of "
            f"{', '.join(sorted(STRING_OPS))}, or compare with a number"
        )
    if vt != "quoted":
        raise BadSearch(
            f"{kind} {key!r} compares with a quoted string (or, for a param, a number); "
            f"got {vtext!r} at position {vpos}"
        )
    return _unquote(vtext)


def parse_order_by(items: list[str] | None, experiments: bool = False) -> list[OrderBy]:
    """`["metrics.loss ASC", "attributes.start_time"]`: direction defaults to ascending."""
    out = []
    for item in items or []:
        toks = _tokens(item)
        if not toks:
            raise BadSearch(f"order_by {item!r}: expected '<identifier> [ASC|DESC]'")
        kind, key, summary, i = _subject(toks, 0, experiments)
        if len(toks) > i + 1:
            raise BadSearch(f"order_by {item!r}: expected '<identifier> [ASC|DESC]'")
        direction = toks[i][1].upper() if len(toks) == i + 1 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise BadSearch(f"order_by {item!r}: direction must be ASC or DESC")
        out.append(OrderBy(kind, key, direction == "ASC", summary))
    return out


def _like(pattern: str, flags: int = 0) -> re.Pattern:
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), flags | re.DOTALL)


def clause_matches(clause: Clause, run: RunView) -> bool:
    numeric = clause.numeric
    have = run.value(clause.kind, clause.key, clause.summary, numeric)
    if have is None:
        return False
    op, want = clause.op, clause.value
    if numeric:
        return COMPARE[op](float(have), want)  # NaN: only != is true, as in IEEE 754
    have = str(have)
    if op in COMPARE:  # = and !=
        return COMPARE[op](have, want)
    if op == "LIKE":
        return _like(want).fullmatch(have) is not None
    if op == "ILIKE":
        return _like(want, re.IGNORECASE).fullmatch(have) is not None
    if op == "IN":
        return have in want
    return have not in want  # NOT IN


def matches(clauses: list[Clause], run: RunView) -> bool:
    return all(clause_matches(c, run) for c in clauses)


def sort_runs(runs: list[RunView], order: list[OrderBy]) -> list[RunView]:
    """Stable sort by each OrderBy, last key first; runs lacking the value sort last either way
    (NaN metrics sort after every number, before missing ones). Strings sort by code point."""
    out = list(runs)
    for ob in reversed(order):
        numeric = _numeric(ob.kind, ob.key)
        present, nan, missing = [], [], []
        for run in out:
            v = run.value(ob.kind, ob.key, ob.summary)
            if v is None:
                missing.append(run)
            elif numeric and math.isnan(float(v)):
                nan.append(run)
            else:
                present.append((float(v) if numeric else str(v), run))
        present.sort(key=lambda pair: pair[0], reverse=not ob.ascending)  # reverse stays stable
        out = [run for _, run in present] + nan + missing
    return out
