"""A thin client for API tests: the token header and a few creation shortcuts."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from fastapi.testclient import TestClient


@dataclass
class Api:
    client: TestClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, headers: dict | None = None, **kw):
        return self.client.get(f"/api/v1{path}", headers=headers or self.headers, **kw)

    def post(self, path: str, headers: dict | None = None, **kw):
        return self.client.post(f"/api/v1{path}", headers=headers or self.headers, **kw)

    def patch(self, path: str, headers: dict | None = None, **kw):
        return self.client.patch(f"/api/v1{path}", headers=headers or self.headers, **kw)

    def project(self, name: str = "demo") -> dict:
        r = self.post("/projects", json={"name": name})
        assert r.status_code == 201, r.text
        return r.json()

    def run(self, project_id: int, **fields) -> dict:
        r = self.post("/runs", json={"project_id": project_id, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def log(
        self,
        run_id: int,
        steps,
        metrics: dict,
        expect: int = 200,
        attempt: int | None = None,
        **extra,
    ) -> dict:
        """Send a batch (as attempt `attempt` of a job's worker); NaN/Infinity go as JSON
        literals (the SDK's encoding)."""
        body = {"steps": list(steps), "metrics": {k: list(v) for k, v in metrics.items()}, **extra}
        raw = _dumps_with_nonfinite(body)
        headers = {**self.headers, "content-type": "application/json"}
        if attempt is not None:
            headers["X-LionLab-Attempt"] = str(attempt)
        r = self.post(f"/runs/{run_id}/metrics", content=raw, headers=headers)
        assert r.status_code == expect, r.text
        return r.json()

    def series(self, run_ids, keys, **params) -> list[dict]:
        r = self.get("/series", params={"run": run_ids, "key": keys, **params})
        assert r.status_code == 200, r.text
        return r.json()["series"]


def _dumps_with_nonfinite(body: dict) -> bytes:
    import json

    return json.dumps(body, allow_nan=True).encode() if _has_nonfinite(body) else orjson.dumps(body)


def _has_nonfinite(obj) -> bool:
    if isinstance(obj, float):
        return obj != obj or obj in (float("inf"), float("-inf"))
    if isinstance(obj, dict):
        return any(_has_nonfinite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_nonfinite(v) for v in obj)
    return False


def as_float(value) -> float:
    """A series value from the API ('NaN', 'Infinity', '-Infinity' or a number) as float."""
    return float(value) if not isinstance(value, str) else float(value.replace("inity", ""))
