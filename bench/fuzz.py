"""Schemathesis against the app's own OpenAPI document, on SQLite and on Postgres: every
operation, positive and negative examples from a fixed seed, each answer checked for a 5xx
and for conformance to the document (status code, content type, body schema).

Prints one JSON object: per backend, the operations fuzzed, the cases sent, `server_errors`
(must be 0) and `nonconforming` answers, with the first few failures for a reader to replay.
`tests/fuzz/` runs the same engine with fewer examples.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import schemathesis
from fastapi import FastAPI
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks

from lionlab.settings import Settings
from tests.support.local_servers import create_database, drop_database, postgres_url

MAX_EXAMPLES = int(os.environ.get("LIONLAB_BENCH_FUZZ_EXAMPLES", "30"))
CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
KEPT_FAILURES = 20


@dataclass
class FuzzReport:
    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    nonconforming: int = 0
    by_status: Counter = field(default_factory=Counter)
    exceptions: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.failures) < KEPT_FAILURES:
            self.failures.append(what)

    def as_json(self) -> dict:
        return {
            "operations": self.operations,
            "cases": self.cases,
            "server_errors": self.server_errors,
            "nonconforming": self.nonconforming,
            "statuses": {str(k): v for k, v in sorted(self.by_status.items())},
            "exceptions": dict(self.exceptions.most_common()),
            "failures": self.failures,
        }


def _check_case(case: schemathesis.Case, token: str, report: FuzzReport) -> None:
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    report.cases += 1
    report.by_status[response.status_code] += 1
    where = f"{case.operation.label} -> {response.status_code}"
    if response.status_code >= 500:
        report.server_errors += 1
        report.note(f"{where}: {case.as_curl_command()}")
        return
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except (AssertionError, FailureGroup) as exc:  # each failed check
        report.nonconforming += 1
        report.note(f"{where}: {str(exc).splitlines()[0][:300]} :: {case.as_curl_command()}")


def _fuzz_operation(operation, token: str, report: FuzzReport, examples: int) -> None:
    settings = hypothesis.settings(
        max_examples=examples,
        derandomize=True,  # a fixed seed: the same cases on every run
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    for mode in MODES:
        strategy = operation.as_strategy(generation_mode=mode)

        @settings
        @hypothesis.given(strategy)
        def run(case: schemathesis.Case) -> None:
            _check_case(case, token, report)

        run()


class Answering500:
    """ASGI wrapper: an app error is the 500 answer the client got, counted by its type;
    re-raised it would abort the whole fuzzing run at the first one."""

    def __init__(self, app: FastAPI, report: FuzzReport):
        self.app, self.report = app, report

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":  # no reaper thread: fuzzing needs no background work
            await receive()
            await send({"type": "lifespan.startup.complete"})
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # starlette's ServerErrorMiddleware has answered 500
            self.report.exceptions[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1


def fuzz_app(app: FastAPI, token: str, examples: int = MAX_EXAMPLES) -> FuzzReport:
    """Fuzz every operation of `app`'s OpenAPI document with the admin `token`."""
    report = FuzzReport()
    schema = schemathesis.openapi.from_asgi("/openapi.json", Answering500(app, report))
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        _fuzz_operation(operation, token, report, examples)
    return report


@contextmanager
def fuzz_target(database_url: str) -> Iterator[tuple[FastAPI, str]]:
    """A migrated app on `database_url` and its admin token."""
    from lionlab_server.app import create_app
    from lionlab_server.services.bootstrap import prepare_database

    with tempfile.TemporaryDirectory(prefix="lionlab-fuzz-") as data_dir:
        settings = Settings(database_url=database_url, data_dir=Path(data_dir))
        app = create_app(settings)
        token = prepare_database(app.state.engine, settings)
        try:
            yield app, token
        finally:
            app.state.engine.dispose()


def seed(app: FastAPI, token: str) -> None:
    """A project with a run holding a few metrics, so small ids reach stored objects."""
    from fastapi.testclient import TestClient

    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        pid = client.post("/api/v1/projects", json={"name": "fuzz"}, headers=headers).json()["id"]
        run = client.post("/api/v1/runs", json={"project_id": pid}, headers=headers).json()
        batch = {"steps": [0, 1, 2], "metrics": {"train_loss": [2.0, 1.5, 1.2]}}
        client.post(f"/api/v1/runs/{run['id']}/metrics", json=batch, headers=headers)


def _fuzz_backend(database_url: str) -> dict:
    with fuzz_target(database_url) as (app, token):
        seed(app, token)
        return fuzz_app(app, token).as_json()


def main() -> None:
    out = {"max_examples_per_mode": MAX_EXAMPLES}
    with tempfile.TemporaryDirectory(prefix="lionlab-fuzz-db-") as tmp:
        out["sqlite"] = _fuzz_backend(f"sqlite:///{tmp}/lionlab.db")
    admin, throwaway = postgres_url()
    name = f"lionlab_fuzz_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        out["postgres"] = _fuzz_backend(create_database(admin, name))
    finally:
        drop_database(admin, name)
        if throwaway is not None:
            throwaway.stop()
    out["server_errors"] = out["sqlite"]["server_errors"] + out["postgres"]["server_errors"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
