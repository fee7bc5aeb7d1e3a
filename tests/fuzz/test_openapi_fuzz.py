"""Schemathesis against the app's own OpenAPI document, on SQLite and Postgres: every
operation, positive and negative cases from a fixed seed (derandomized), signed in as admin.
No answer may be a 5xx, and every answer must match the document (status code, content type,
body schema). `bench/fuzz.py` runs the same engine with more examples and reports figures."""

from __future__ import annotations

import pytest

from bench.fuzz import fuzz_app, seed

EXAMPLES = 15  # per operation and mode: ~1,000 cases per backend


@pytest.mark.slow
def test_no_operation_answers_5xx_or_outside_its_schema(app):
    token = app.state.admin_token
    seed(app, token)
    report = fuzz_app(app, token, examples=EXAMPLES)
    assert report.operations >= 30 and report.cases > 20 * report.operations
    assert report.server_errors == 0, "\n".join(report.failures)
    assert report.nonconforming == 0, "\n".join(report.failures)
