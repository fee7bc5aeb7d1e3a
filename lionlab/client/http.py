"""HTTP access to the LionLab API with retries for transient failures."""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

import httpx

log = logging.getLogger("lionlab.client")

# Worth retrying: the server or its database restarting, overload, a dropped connection.
TRANSIENT_STATUS = {429, 502, 503, 504}


class ApiError(RuntimeError):
    """The API refused a request (4xx); the message is the server's, naming the field."""

    def __init__(self, status_code: int, detail: Any):
        self.status_code, self.detail = status_code, detail
        super().__init__(f"{status_code}: {_describe(detail)}")


def _describe(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail
        )
    return str(detail)


def dumps(body: Any) -> bytes:
    """JSON with NaN and +/-Infinity kept (the API accepts them as literals)."""
    return json.dumps(body, allow_nan=True, separators=(",", ":")).encode()


def backoff(attempt: int, base: float = 0.25, cap: float = 10.0) -> float:
    """Seconds before retry `attempt` (0-based): exponential with jitter, capped."""
    return min(cap, base * 2**attempt) * (0.5 + random.random() / 2)


class ApiClient:
    """Bearer-token JSON client; retries transient errors until `retry_for` seconds pass."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0, retry_for: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.retry_for = retry_for
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict | None = None,
        retry_for: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + (self.retry_for if retry_for is None else retry_for)
        content = None if body is None else dumps(body)
        for attempt in range(1_000_000):
            try:
                r = self._http.request(
                    method, f"/api/v1{path}", content=content, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                error: Exception = exc
            else:
                if r.status_code < 400:
                    return r.json() if r.content else None
                if r.status_code not in TRANSIENT_STATUS:
                    raise ApiError(r.status_code, _detail(r))
                error = ApiError(r.status_code, _detail(r))
            wait = backoff(attempt)
            if time.monotonic() + wait > deadline:
                raise error
            log.warning(
                "LionLab API %s %s failed (%s); retrying in %.1fs", method, path, error, wait
            )
            time.sleep(wait)
        raise AssertionError("unreachable")

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any = None, **kw) -> Any:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def close(self) -> None:
        self._http.close()


def _detail(r: httpx.Response) -> Any:
    try:
        return r.json().get("detail", r.text)
    except (ValueError, AttributeError):
        return r.text
