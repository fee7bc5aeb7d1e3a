"""Sweep pages: a finished Lion-vs-AdamW sweep with its loss-against-lr chart, verdict and
trials; the read-only report; the new-sweep form's validation messages.

No worker runs here: the test drives each trial's run as a worker would (claim, log eval
losses up to each ASHA rung, heartbeat, finish), so the server's scheduler and ASHA decide
what happens next exactly as they would in production.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import httpx
import orjson
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEPS, EVERY, MIN_STEPS = 600, 50, 100
RUNGS = (100, 300)  # min_steps * 3^k below STEPS
SPEC = f"""\
name: browser-sweep
description: Lion against AdamW on a tiny char LM
base:
  task: char_lm
  steps: {STEPS}
  eval_interval: {EVERY}
optimizers: [adamw, lion]
seeds: 3
space:
  adamw:
    optimizer.lr: [1.0e-3, 3.0e-3]
paired:
  factors: [3, 10]
limits:
  max_parallel: 6
asha:
  eta: 3
  min_steps: {MIN_STEPS}
"""


@dataclass(frozen=True)
class Shape:
    """A configuration's eval loss: floor + (3 - floor) * exp(-step / tau); seconds per step."""

    floor: float
    tau: float
    step_s: float = 0.05
    diverges_at: int | None = None


# lr -> shape. Lion 1e-4 (AdamW 1e-3 / 10) is the best and about twice as fast as AdamW;
# Lion 1e-3 (AdamW 3e-3 / 3) blows up. Later seeds do slightly better, so ASHA's first
# arrivals never stop the best configuration's later seeds.
ATTEMPT_1_HEADERS = {"X-LionLab-Attempt": "1"}
SHAPES = {
    ("adamw", 1e-3): Shape(1.00, 150),
    ("adamw", 3e-3): Shape(1.12, 170),
    ("lion", 1e-4): Shape(0.96, 90, 0.045),
    ("lion", 3.33333333333e-4): Shape(1.00, 120, 0.045),
    ("lion", 3e-4): Shape(1.03, 110, 0.045),
    ("lion", 1e-3): Shape(1.0, 100, 0.045, diverges_at=80),
}


def shape_of(trial: dict) -> Shape:
    lr = trial["params"]["optimizer.lr"]
    return next(
        s for (o, v), s in SHAPES.items() if o == trial["optimizer"] and math.isclose(v, lr)
    )


class Driver:
    """Plays the worker for a sweep's trials over the REST API."""

    def __init__(self, dashboard):
        self.d = dashboard

    def post(self, path: str, **kw) -> httpx.Response:
        r = self.d.api("POST", path, **kw)
        assert r.status_code in (200, 201), r.text
        return r

    def log(self, run_id: int, steps: list[int], eval_loss: list, start: float, step_s: float):
        # every trial run is claimed once here: its worker writes as attempt 1
        train = [("NaN" if v is None else v + 0.02) for v in eval_loss]
        body = {
            "steps": steps,
            "metrics": {"eval_loss": eval_loss, "train_loss": train},
            "wall_time": [start + s * step_s for s in steps],
        }
        self.post(f"/runs/{run_id}/metrics", content=orjson.dumps(body), headers=ATTEMPT_1_HEADERS)

    def drive(self, trial: dict) -> None:
        """Log the trial's curve rung by rung; stop when told, else finish it."""
        run_id, worker = trial["run_id"], f"browser-w{trial['index']}"
        shape, seed = shape_of(trial), trial["seed"]
        self.post(f"/runs/{run_id}/claim", json={"worker": worker})
        me = {"worker": worker, "attempt": 1}
        start = time.time()
        floor = shape.floor - 0.01 * seed
        if shape.diverges_at is not None:
            self.log(run_id, [EVERY, shape.diverges_at], [2.5, None], start, shape.step_s)
            self.post(f"/runs/{run_id}/finish", json={**me, "status": "diverged"})
            return
        steps = list(range(EVERY, STEPS + 1, EVERY))
        for lo, hi in zip((0, *RUNGS), (*RUNGS, STEPS), strict=True):
            chunk = [s for s in steps if lo < s <= hi]
            losses = [floor + (3 - floor) * math.exp(-s / shape.tau) for s in chunk]
            self.log(run_id, chunk, losses, start, shape.step_s)
            beat = self.post(f"/runs/{run_id}/heartbeat", json=me).json()
            if beat["stop"]:
                self.post(f"/runs/{run_id}/finish", json={**me, "status": beat["stop"]})
                return
        self.post(f"/runs/{run_id}/finish", json={**me, "status": "succeeded"})

    def run_sweep(self, project_id: int) -> dict:
        r = self.post("/sweeps", json={"project_id": project_id, "spec": SPEC})
        sweep_id = r.json()["id"]
        for _ in range(100):
            sweep = self.d.api("GET", f"/sweeps/{sweep_id}").json()
            queued = [t for t in sweep["trials"] if t["status"] == "queued"]
            if not queued:
                break
            for t in sorted(queued, key=lambda t: t["index"]):
                self.drive(t)
        assert sweep["status"] == "finished", sweep["counts"]
        return sweep


@pytest.fixture(scope="module")
def project(dashboard) -> dict:
    """A project of its own: the sweeps' runs stay out of the other tests' runs tables."""
    r = dashboard.api("POST", "/projects", json={"name": "browser-sweeps"})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def sweep(dashboard, project) -> dict:
    return Driver(dashboard).run_sweep(project["id"])


def open_sweep(open_page, path: str):
    tab = open_page(path)
    tab.page.wait_for_selector("body[data-charts-drawn]")
    return tab


SENSITIVITY_LINES = """() => document.querySelector('[data-chart="sensitivity"]').data
    .filter(t => t.meta.role === 'final').map(t => [t.meta.optimizer, t.line.color])"""


def test_the_sweep_page_shows_loss_against_lr_the_verdict_and_the_trials(open_page, sweep):
    tab = open_sweep(open_page, f"/sweeps/{sweep['id']}")
    page = tab.page
    assert page.evaluate(SENSITIVITY_LINES) == [["adamw", "#1c7ed6"], ["lion", "#e8590c"]]
    layout_x = page.evaluate(
        "() => document.querySelector('[data-chart=\"sensitivity\"]').layout.xaxis.type"
    )
    assert layout_x == "log"
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-status") == "challenger_faster"
    assert "Lion reached the target" in page.locator("#verdict-text").inner_text()
    rows = page.locator("#trials-table tbody tr")
    assert rows.count() == len(sweep["trials"]) == 18
    statuses = set(
        page.eval_on_selector_all("#trials-table tbody tr", "els => els.map(e => e.dataset.status)")
    )
    assert {"succeeded", "stopped_early", "diverged"} <= statuses
    stopped = page.locator("#trials-table tbody tr[data-status=stopped_early]").first
    assert "stopped at step" in stopped.inner_text()
    first_run = sweep["trials"][0]["run_id"]
    assert page.locator(f"#trials-table a[href='/runs/{first_run}']").count() == 1
    assert page.locator("#best [data-optimizer=lion]").inner_text().count("#") == 3
    assert page.locator("#sweep-actions", has_text="Share report").count() == 1
    tab.screenshot("sweep")
    units_shown = """() => document.querySelector('[data-chart="time_to_target"]').data
        .filter(t => t.meta.role === 'seeds' && t.visible !== false).map(t => t.meta.unit)"""
    assert set(page.evaluate(units_shown)) == {"steps"}
    page.locator("[data-chart=time_to_target] .updatemenu-button", has_text="Wall clock").click()
    page.wait_for_function(f"() => ({units_shown})().every(u => u === 'seconds')")


def test_the_report_is_read_only(open_page, sweep):
    tab = open_sweep(open_page, f"/sweeps/{sweep['id']}/report")
    page = tab.page
    assert page.locator("#verdict-text").inner_text()
    assert page.locator("button", has_text="Cancel").count() == 0
    assert page.locator("#share-report").count() == 0
    assert page.get_by_text("Read-only report").is_visible()
    tab.screenshot("sweep-report")


def test_the_projects_sweeps_are_listed_with_their_progress(open_page, sweep):
    tab = open_page(f"/projects/{sweep['project_id']}/sweeps")
    row = tab.page.locator(f"#sweeps-table tr[data-sweep='{sweep['id']}']")
    row.wait_for()
    assert "Finished" in row.inner_text() and "18 / 18 trials" in row.inner_text()
    tab.screenshot("sweeps")


def test_a_trials_run_page_links_back_to_its_sweep(open_page, sweep):
    tab = open_page(f"/runs/{sweep['trials'][0]['run_id']}")
    link = tab.page.locator("#run-sweep")
    link.wait_for()
    assert link.get_attribute("href") == f"/sweeps/{sweep['id']}"


def test_the_new_sweep_form_names_the_invalid_field(open_page, project):
    tab = open_page(f"/projects/{project['id']}/sweeps/new")
    tab.expect_refusals(422)
    page = tab.page
    page.wait_for_selector("#sweep-form[data-ready]")
    spec = page.input_value("#spec")
    assert "optimizer.lr: [1.0e-3, 3.0e-3]" in spec  # the example
    page.fill("#spec", spec.replace("seeds: 3 ", "seeds: 0 "))
    page.click("#start-sweep")
    error = page.locator(".spec-error[data-field=seeds]")
    error.wait_for()
    assert "must be a count" in error.inner_text()
    assert "line" in error.locator(".goto").inner_text()
    assert "/sweeps/new" in page.url
    tab.screenshot("sweep-new-invalid")


def test_a_running_sweep_can_be_cancelled_from_its_page(open_page, dashboard, project):
    body = {
        "project_id": project["id"],
        "spec": SPEC.replace("browser-sweep", "to-cancel"),
    }
    r = dashboard.api("POST", "/sweeps", json=body)
    assert r.status_code == 201, r.text
    sweep_id = r.json()["id"]
    tab = open_sweep(open_page, f"/sweeps/{sweep_id}")
    page = tab.page
    assert page.locator("body").get_attribute("data-status") == "running"
    assert "Waiting for the first trials" in page.locator("#verdict-headline").inner_text()
    tab.screenshot("sweep-running")
    page.locator("#sweep-actions button", has_text="Cancel sweep").click()
    page.locator("#sweep-actions button", has_text="Confirm cancel").click()
    page.wait_for_selector("body[data-status=cancelled]")
    page.locator("#sweep-actions button", has_text="Cancel").wait_for(state="detached")
    assert page.locator("#share-report").is_visible()
    assert dashboard.api("GET", f"/sweeps/{sweep_id}").json()["status"] == "cancelled"


def token_for(dashboard, project_id: int) -> str:
    body = {"name": f"team-{project_id}", "project_id": project_id}
    r = dashboard.api("POST", "/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def test_the_report_opens_for_a_team_members_token_and_no_other(browser, dashboard, sweep):
    url = f"{dashboard.url}/sweeps/{sweep['id']}/report"
    for project_id, visible in ((sweep["project_id"], True), (dashboard.project["id"], False)):
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        cookie = {"name": "lionlab_token", "value": token_for(dashboard, project_id)}
        context.add_cookies([{**cookie, "url": dashboard.url, "httpOnly": True}])
        page = context.new_page()
        page.goto(url)
        if visible:
            page.wait_for_selector("body[data-charts-drawn]")
            assert page.locator("#verdict-text").inner_text()
        else:
            assert page.get_by_text("This sweep does not exist").is_visible()
        context.close()


def test_the_trials_table_sorts_by_a_clicked_column(open_page, sweep):
    page = open_sweep(open_page, f"/sweeps/{sweep['id']}").page
    seeds = "els => els.map(e => Number(e.innerText))"
    column = "#trials-table tbody tr td:nth-child(5)"  # Trial, Optimizer, lr, wd, Seed
    page.click("#trials-table th[data-sort=seed]")
    assert page.eval_on_selector_all(column, seeds) == sorted(t["seed"] for t in sweep["trials"])
    assert page.locator("th[data-sort=seed] .arrow").inner_text() == "▲"
    page.click("#trials-table th[data-sort=seed]")
    assert page.eval_on_selector_all(column, seeds) == sorted(
        (t["seed"] for t in sweep["trials"]), reverse=True
    )


def test_every_asha_decision_is_listed_with_its_reason(open_page, dashboard, sweep):
    analysis = dashboard.api("GET", f"/sweeps/{sweep['id']}/analysis").json()
    decisions = analysis["decisions"]
    stops = [d for d in decisions if d["action"] == "stop"]
    assert stops and len(stops) < len(decisions)  # the sweep has both kinds
    page = open_sweep(open_page, f"/sweeps/{sweep['id']}").page
    rows = "#decisions-table tbody tr"
    actions = "els => els.map(e => e.dataset.action)"
    assert page.locator(rows).count() == len(decisions)
    newest_first = [d["action"] for d in reversed(decisions)]
    assert page.eval_on_selector_all(rows, actions) == newest_first
    first = page.locator(rows).last  # the oldest decision, #1
    assert decisions[0]["reason"] in first.inner_text()
    page.click("#decision-filter button[data-filter=stop]")
    assert page.eval_on_selector_all(rows, actions) == ["stop"] * len(stops)
    stopped_trials = {t["index"]: t["stop_reason"] for t in sweep["trials"] if t["stop_reason"]}
    for row in page.locator(rows).all():
        trial = int(row.get_attribute("data-trial"))
        assert stopped_trials[trial] in row.inner_text()  # the trials table's stop reason


def test_a_share_link_opens_the_report_in_a_fresh_context_and_no_trial_page(
    open_page, anonymous, dashboard, sweep
):
    tab = open_sweep(open_page, f"/sweeps/{sweep['id']}/report")
    tab.page.click("#share-link")  # an editor's (here the admin's) Share link button
    url = tab.page.input_value("#share-url")

    page = anonymous.page  # no account, no cookie
    page.goto(url)
    page.wait_for_selector("body[data-charts-drawn]")
    assert "Shared, read-only view of sweep “browser-sweep”" in page.text_content("#share-banner")
    assert "Lion reached the target" in page.locator("#verdict-text").inner_text()
    assert page.locator("#trials-table tbody tr").count() == 18
    assert page.locator("#trials-table a, #best a, #sweep-actions a, #share-link").count() == 0
    assert page.locator("button", has_text="Cancel").count() == 0
    assert anonymous.errors == [], anonymous.errors
    anonymous.screenshot("share-sweep")

    page.goto(f"{dashboard.url}/runs/{dashboard.runs['lion']}")  # not one of its trials
    assert "/signin" in page.url
