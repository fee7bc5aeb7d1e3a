"""HTTP access to the LionLab API: transient failures retried (tenacity), 4xx raised at once."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.stop import StopBaseT

log = logging.getLogger("lionlab.client")

# Worth retrying besides any 5xx: the server asking us to slow down.
TOO_MANY_REQUESTS = 429
# Longest Retry-After honoured (s); a larger one is capped so a sender keeps trying.
MAX_RETRY_AFTER = 60.0
# Equal jitter: half of each wait is fixed (0.125, 0.25, ... capped at 5 s) and half random,
# so a client never retries faster than the fixed half and clients restarting together spread.
BACKOFF = wait_exponential(multiplier=0.125, max=5) + wait_random_exponential(
    multiplier=0.125, max=5
)


class ApiError(RuntimeError):
    """The API refused a request; the message is the server's, naming the field."""

    def __init__(self, status_code: int, detail: Any, retry_after: float | None = None):
        self.status_code, self.detail, self.retry_after = status_code, detail, retry_after
        super().__init__(f"{status_code}: {_describe(detail)}")

    @property
    def transient(self) -> bool:
        """5xx and 429: the server may take the same request later."""
        return self.status_code >= 500 or self.status_code == TOO_MANY_REQUESTS


def _describe(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail
        )
    return str(detail)


def transient(exc: BaseException) -> bool:
    """Worth retrying: the server unreachable, timing out, restarting or overloaded."""
    if isinstance(exc, ApiError):
        return exc.transient
    return isinstance(exc, httpx.TransportError)


def backoff_wait(state: RetryCallState) -> float:
    """Seconds before the next try: the server's Retry-After when it sent one, else BACKOFF."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ApiError) and exc.retry_after is not None:
        return exc.retry_after
    return BACKOFF(state)


def retrying(stop: StopBaseT, sleep: Callable[[float], None] = time.sleep, **kw: Any) -> Retrying:
    """The retry policy: transient errors only, backoff_wait between tries, until `stop`
    (e.g. `stop_before_delay(60)`); then the last error is raised as it was."""
    return Retrying(
        retry=retry_if_exception(transient),
        wait=backoff_wait,
        stop=stop,
        sleep=sleep,
        reraise=True,
        **kw,
    )


def dumps(body: Any) -> bytes:
    """JSON with NaN and +/-Infinity kept (the API accepts them as literals)."""
    return json.dumps(body, allow_nan=True, separators=(",", ":")).encode()


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
        prefix: str = "/api/v1",
        with_status: bool = False,
    ) -> Any:
        """One API call; `retry_for=0` tries once (callers with their own backoff).
        `prefix="/api/2.0/mlflow"` calls the MLflow-compatible API; `with_status` answers
        (status code, body), e.g. to tell a created run (201) from one found again (200)."""
        content = None if body is None else dumps(body)
        policy = retrying(
            stop_before_delay(self.retry_for if retry_for is None else retry_for),
            before_sleep=lambda s: _log_retry(method, path, s),
        )
        status, answer = policy(self._once, method, prefix + path, content, params, headers)
        return (status, answer) if with_status else answer

    def _once(
        self, method: str, path: str, content: bytes | None, params: dict | None, headers: dict
    ) -> tuple[int, Any]:
        r = self._http.request(method, path, content=content, params=params, headers=headers)
        if r.status_code >= 400:
            raise ApiError(r.status_code, _detail(r), _retry_after(r))
        return r.status_code, (r.json() if r.content else None)

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any = None, **kw) -> Any:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any, **kw) -> Any:
        return self.request("PATCH", path, body, **kw)

    def close(self) -> None:
        self._http.close()


def _log_retry(method: str, path: str, state: RetryCallState) -> None:
    log.warning(
        "LionLab API %s %s failed (%s); retrying in %.1fs",
        method,
        path,
        state.outcome.exception(),
        state.upcoming_sleep,
    )


def _detail(r: httpx.Response) -> Any:
    try:
        body = r.json()
        return body.get("detail", body.get("message", r.text))  # LionLab's or MLflow's body
    except (ValueError, AttributeError):
        return r.text


def _retry_after(r: httpx.Response) -> float | None:
    """Retry-After of a 429/503 in seconds (delta-seconds or an HTTP date), capped."""
    value = r.headers.get("retry-after")
    if value is None or r.status_code not in (TOO_MANY_REQUESTS, 503):
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
