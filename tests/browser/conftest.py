"""One real `lionlab server` (SQLite) and one headless Chromium shared by the browser tests.

The server is filled through its REST API; flags go in through the store, the way the
ingestion service stores them. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from support.chromium import CHROMIUM, CHROMIUM_ARGS
from support.live import LiveServer, start_server

from lionlab_server.db import begin_write, make_engine, make_sessionmaker
from lionlab_server.store.flags import add_flags

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}
JOB_KEYS = ("train_loss", "eval_loss", "lr", "grad_norm", "update_rms", "samples_per_s")
LONG_STEPS = 100_000
T0 = time.time() - 86_400  # wall time of step 0 of every seeded run


@dataclass
class Dashboard:
    """The running server and what the suite put in it."""

    server: LiveServer
    project: dict
    runs: dict[str, int] = field(default_factory=dict)  # role -> run id
    keys: dict[str, list[str]] = field(default_factory=dict)  # role -> logged keys

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, **kw) -> httpx.Response:
        url = f"{self.server.url}/api/v1{path}"
        headers = {**self.server.headers, **kw.pop("headers", {})}
        return httpx.request(method, url, headers=headers, timeout=60, **kw)

    def log(self, run_id: int, steps, metrics: dict[str, list], attempt: int | None = None) -> None:
        """Log a batch (as a job's worker, with its claim's `attempt`); step s happened at
        T0 + s / 10 seconds (ten steps a second)."""
        steps = list(steps)
        body = {"steps": steps, "metrics": metrics, "wall_time": [T0 + s / 10 for s in steps]}
        headers = {} if attempt is None else {"X-LionLab-Attempt": str(attempt)}
        r = self.api("POST", f"/runs/{run_id}/metrics", content=orjson.dumps(body), headers=headers)
        assert r.status_code == 200, r.text

    def claim(self, run_id: int) -> int:
        """Take a job as a worker would; returns the claim's attempt number."""
        r = self.api("POST", f"/runs/{run_id}/claim", json={"worker": "browser:1:cpu"})
        assert r.status_code == 200, r.text
        return r.json()["attempts"]

    def new_run(self, **fields) -> int:
        r = self.api("POST", "/runs", json={"project_id": self.project["id"], **fields})
        assert r.status_code == 201, r.text
        return r.json()["id"]


def _curve(n: int, seed: int, nan_at: int | None = None) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    loss = 2.5 * np.exp(-steps / (n / 4)) + 0.3 + 0.05 * rng.standard_normal(n)
    metrics = {
        "train_loss": loss.tolist(),
        "eval_loss": [
            float(v) if s % 50 == 0 else None for s, v in zip(steps, loss + 0.05, strict=True)
        ],
        "lr": (1e-4 * np.minimum(1, (steps + 1) / 100)).tolist(),
        "grad_norm": (1 + 0.2 * rng.random(n)).tolist(),
        "update_rms": (1e-4 * (1 + 0.1 * rng.random(n))).tolist(),
        "samples_per_s": (900 + 50 * rng.random(n)).tolist(),
    }
    if nan_at is not None:
        metrics["train_loss"][nan_at] = "NaN"
    return metrics


def _fill(d: Dashboard) -> None:
    job = lambda opt, lr: {"optimizer": {"name": opt, "lr": lr}, "steps": 2000}  # noqa: E731
    d.runs["lion"] = d.new_run(name="lion-1e-4", tags=["sweep"], job=job("lion", 1e-4))
    d.runs["adamw"] = d.new_run(name="adamw-1e-3", tags=["sweep"], job=job("adamw", 1e-3))
    for role, seed in (("lion", 1), ("adamw", 2)):
        # training on a worker that the server never takes for lost (LOST_AFTER is a day)
        attempt = d.claim(d.runs[role])
        curve = _curve(1500, seed, nan_at=900 if role == "lion" else None)
        d.log(d.runs[role], range(1, 1501), curve, attempt=attempt)  # 1-based, as a worker logs
        d.keys[role] = list(JOB_KEYS)
    d.runs["script"] = d.new_run(name="long-script", optimizer="lion", config={"lr": 3e-4})
    rng = np.random.default_rng(3)
    for lo in range(0, LONG_STEPS, 50_000):
        steps = range(lo, lo + 50_000)
        loss = [3 * math.exp(-s / 30_000) + 0.1 * rng.random() for s in steps]
        d.log(
            d.runs["script"],
            steps,
            {"train_loss": loss, "accuracy": [s / LONG_STEPS for s in steps]},
        )
    d.keys["script"] = ["train_loss", "accuracy"]


def _flags(d: Dashboard) -> None:
    engine = make_engine(f"sqlite:///{d.server.data_dir / 'lionlab.db'}")
    with make_sessionmaker(engine)() as session:
        begin_write(session)
        add_flags(
            session,
            d.runs["lion"],
            [
                dict(
                    kind="loss_step",
                    step=420,
                    start_step=300,
                    end_step=400,
                    severity="warning",
                    message="loss dropped 40% in 100 steps",
                ),
                dict(
                    kind="grad_norm_drift",
                    step=1200,
                    start_step=1000,
                    end_step=1100,
                    severity="info",
                    message="gradient norm drifted up 3x",
                ),
            ],
        )
        session.commit()
    engine.dispose()


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory) -> Iterator[Dashboard]:
    server = start_server(
        tmp_path_factory.mktemp("lionlab-browser"), env={"LIONLAB_LOST_AFTER": "86400"}
    )
    try:
        r = httpx.post(
            f"{server.url}/api/v1/projects", json={"name": "browser"}, headers=server.headers
        )
        d = Dashboard(server, r.json())
        _fill(d)
        _flags(d)
        yield d
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page plus every console error and uncaught exception it produced."""

    page: Page
    errors: list[str]
    expected_statuses: set[int] = field(default_factory=set)

    def expect_refusals(self, *statuses: int) -> None:
        """Chromium logs every 4xx fetch as a console error; a test that provokes one on
        purpose (a 422 from a validation check) names its status here."""
        self.expected_statuses.update(statuses)

    def unexpected_errors(self) -> list[str]:
        refused = tuple(f"status of {code} " for code in self.expected_statuses)
        return [e for e in self.errors if not (refused and any(r in e for r in refused))]

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top
        self.page.screenshot(path=str(path), full_page=True)
        return path


def watch(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    return errors


def sign_in_cookie(context: BrowserContext, d: Dashboard) -> None:
    context.add_cookies(
        [
            {
                "name": "lionlab_token",
                "value": d.server.token,
                "url": d.url,
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )


@pytest.fixture
def tab(browser: Browser, dashboard: Dashboard) -> Iterator[Tab]:
    """A signed-in tab; the test fails on any console error."""
    context = browser.new_context(viewport=VIEWPORT)
    sign_in_cookie(context, dashboard)
    page = context.new_page()
    t = Tab(page, watch(page))
    yield t
    context.close()
    assert t.unexpected_errors() == [], f"console errors: {t.errors}"


@pytest.fixture
def anonymous(browser: Browser) -> Iterator[Tab]:
    """A tab that is not signed in."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield Tab(page, watch(page))
    context.close()


@pytest.fixture
def open_page(tab: Tab, dashboard: Dashboard) -> Callable[[str], Tab]:
    def go(path: str) -> Tab:
        tab.page.goto(dashboard.url + path)
        return tab

    return go
