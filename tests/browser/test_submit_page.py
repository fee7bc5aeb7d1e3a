"""Submit a job: a form built from the job schema, the server's validation messages next to
the fields, and the Lion-lr warning shown before anything is submitted."""

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_form(open_page, dashboard):
    tab = open_page(f"/projects/{dashboard.project['id']}/submit")
    tab.page.wait_for_selector("#job-form[data-ready]")
    tab.page.wait_for_selector("#check-state[data-state=valid]")
    return tab


def lr_input(page):
    return page.locator(".field[data-path='job.optimizer.lr'] input")


def run_count(dashboard) -> int:
    return dashboard.api("GET", "/runs", params={"project_id": dashboard.project["id"]}).json()[
        "total"
    ]


def test_the_form_has_a_field_for_every_job_setting(open_page, dashboard):
    tab = open_form(open_page, dashboard)
    schema = dashboard.api("GET", "/jobs/schema").json()
    paths = set(
        tab.page.eval_on_selector_all(".field[data-path]", "els => els.map(e => e.dataset.path)")
    )
    expected = set()
    for name, prop in schema["properties"].items():
        ref = prop.get("$ref", "").split("/")[-1]
        nested = schema["$defs"][ref]["properties"] if ref else {name: None}
        # free-form maps (optimizer.lr_scale: tensor name -> factor) are set through the API
        nested = {k: v for k, v in nested.items() if (v or {}).get("type") != "object"}
        expected |= {f"job.{name}.{sub}" if ref else f"job.{name}" for sub in nested}
    assert expected <= paths
    assert "job.optimizer.lr_scale" not in paths and "job.layer_stats_every" in paths
    assert lr_input(tab.page).input_value() == "0.0001"  # Lion's default
    tab.screenshot("submit")


def test_an_invalid_field_shows_the_servers_message_and_nothing_is_created(open_page, dashboard):
    tab = open_form(open_page, dashboard)
    tab.expect_refusals(422)
    page = tab.page
    before = run_count(dashboard)
    lr_input(page).fill("-1")
    error = page.locator(".field[data-path='job.optimizer.lr'] .error")
    error.wait_for()
    assert "greater than 0" in error.inner_text()
    page.locator(".field[data-path='job.steps'] input").fill("ten")
    steps_error = page.locator(".field[data-path='job.steps'] .error")
    steps_error.wait_for()
    assert "valid integer" in steps_error.inner_text()
    page.click("#submit-job")
    page.wait_for_selector("#check-state[data-state=invalid]")
    assert "/submit" in page.url and run_count(dashboard) == before
    tab.screenshot("submit-invalid")


def test_lion_lr_warning_before_submitting_then_submit(open_page, dashboard):
    tab = open_form(open_page, dashboard)
    page = tab.page
    lr_input(page).fill("0.01")  # above the project's AdamW baseline (1e-3)
    warning = page.locator("#job-warnings")
    warning.wait_for()
    assert "larger than this project's AdamW baseline lr 0.001" in warning.inner_text()
    tab.screenshot("submit-warning")
    lr_input(page).fill("0.0002")
    warning.wait_for(state="detached")
    page.locator(".field[data-path=name] input").fill("from-the-form")
    page.locator(".field[data-path=tags] input").fill("ui, lion")
    page.click("#submit-job")
    page.wait_for_url("**/runs/*")
    run = dashboard.api("GET", f"/runs/{page.url.rsplit('/', 1)[1]}").json()
    assert (run["name"], run["tags"], run["status"]) == ("from-the-form", ["lion", "ui"], "queued")
    assert run["job"]["optimizer"]["lr"] == 0.0002


def test_choosing_an_optimizer_shows_its_hyperparameters_with_their_defaults(open_page, dashboard):
    tab = open_form(open_page, dashboard)
    page = tab.page
    page.select_option(".field[data-path='job.optimizer.name'] select", "sgd")
    assert lr_input(page).input_value() == "0.01"
    assert page.locator(".field[data-path='job.optimizer.momentum']").is_visible()
    assert page.locator(".field[data-path='job.optimizer.betas']").is_hidden()
    page.select_option(".field[data-path='job.task'] select", "user")
    assert page.locator(".field[data-path='job.entrypoint']").is_visible()


def test_check_endpoint_warns_exactly_like_create(dashboard):
    body = {"project_id": dashboard.project["id"], "job": {"optimizer": {"lr": 0.005}}}
    url = f"{dashboard.url}/api/v1"
    check = httpx.post(f"{url}/jobs/check", json=body, headers=dashboard.server.headers)
    created = httpx.post(f"{url}/runs", json=body, headers=dashboard.server.headers)
    assert check.status_code == 200 and created.status_code == 201
    assert check.json()["warnings"] == created.json()["warnings"] != []
    bad = httpx.post(
        f"{url}/jobs/check",
        json={**body, "job": {"schedule": {"warmup_steps": 5000}}},
        headers=dashboard.server.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "job", "schedule"]
