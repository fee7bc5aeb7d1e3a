"""Projects and runs pages: list, create, filter, sort, select to compare, cancel, re-run;
MLflow's printed links (/#/experiments/3/runs/17) open the run's and project's pages."""

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROW_NAMES = (
    "() => [...document.querySelectorAll('#runs-table tbody tr .run-name')].map(a => a.textContent)"
)


def test_projects_page_lists_projects_with_run_counts(open_page, dashboard):
    tab = open_page("/projects")
    row = tab.page.locator(f"tr[data-project='{dashboard.project['id']}']")
    row.wait_for()
    assert "browser" in row.inner_text()
    total = dashboard.api("GET", "/runs", params={"project_id": dashboard.project["id"]}).json()
    assert str(total["total"]) in row.locator("td").nth(1).inner_text()
    tab.screenshot("projects")


def test_create_a_project_with_its_validation_message(open_page):
    tab = open_page("/projects")
    tab.expect_refusals(422)
    page = tab.page
    page.click("#new-project-toggle")
    page.fill("#project-name", "not a valid name!")
    page.click("#new-project button[type=submit]")
    error = page.locator(".field[data-path=name] .error")
    error.wait_for()
    assert "pattern" in error.inner_text()
    page.fill("#project-name", "made-in-browser")
    page.click("#new-project button[type=submit]")
    page.wait_for_url("**/projects/*")
    assert page.locator("h1").inner_text() == "made-in-browser"
    page.get_by_text("No runs yet").wait_for()
    tab.screenshot("runs-empty")


def test_runs_table_filters_sorts_and_selects(open_page, dashboard):
    tab = open_page(f"/projects/{dashboard.project['id']}")
    page = tab.page
    page.wait_for_selector("#runs-table")
    names = page.evaluate(ROW_NAMES)
    assert {"lion-1e-4", "adamw-1e-3", "long-script"} <= set(names)
    lion = page.locator(f"tr[data-run='{dashboard.runs['lion']}']")
    assert "Running" in lion.inner_text() and "1e-4" in lion.inner_text()
    assert "1,500 / 2,000" in lion.inner_text()  # progress: step of total
    tab.screenshot("runs")
    page.select_option("#filter-optimizer", "adamw")
    # every row an adamw run (other tests add runs of their own to this project)
    optimizers = "() => [...document.querySelectorAll('#runs-table tbody tr .badge.opt')]"
    page.wait_for_function(
        f"() => ({optimizers})().every(b => b.textContent === 'adamw') && "
        f"({ROW_NAMES})().includes('adamw-1e-3') && !({ROW_NAMES})().includes('lion-1e-4')"
    )
    assert "optimizer=adamw" in page.url
    page.select_option("#filter-optimizer", "")
    page.wait_for_function(f"() => ({ROW_NAMES})().includes('long-script')")
    page.fill("#filter-text", "1e-")
    page.wait_for_function(f"() => ({ROW_NAMES})().every(n => n.includes('1e-'))")
    assert "q=1e-" in page.url
    page.click("th[data-sort=name]")  # sorted on the server, descending first
    page.wait_for_url("**sort=name**")
    page.wait_for_function(f"() => ({ROW_NAMES})()[0] === 'lion-1e-4'")
    assert page.evaluate(ROW_NAMES)[:2] == ["lion-1e-4", "adamw-1e-3"]
    assert "sortable" not in (page.get_attribute("th[data-sort=lr]", "class") or "")
    for role in ("lion", "adamw"):
        page.check(f"tr[data-run='{dashboard.runs[role]}'] input[type=checkbox]")
    href = page.get_attribute("#compare-selected", "href")
    assert sorted(href.split("runs=")[1].split(",")) == sorted(
        str(dashboard.runs[r]) for r in ("lion", "adamw")
    )


def test_cancel_and_rerun_from_the_table(open_page, dashboard):
    queued = dashboard.new_run(name="to-cancel", job={"steps": 10})
    tab = open_page(f"/projects/{dashboard.project['id']}?q=to-cancel")
    page = tab.page
    row = page.locator(f"tr[data-run='{queued}']")
    row.locator("button", has_text="Cancel").click()
    row.locator("button", has_text="Confirm cancel").click()
    page.locator(f"tr[data-run='{queued}'] [data-status=cancelled]").wait_for()
    assert dashboard.api("GET", f"/runs/{queued}").json()["status"] == "cancelled"
    page.locator(f"tr[data-run='{queued}'] button", has_text="Re-run").click()
    page.get_by_text("Queued to-cancel-rerun").wait_for()
    page.wait_for_function(f"() => ({ROW_NAMES})().includes('to-cancel-rerun')")


def test_mlflow_links_open_the_run_and_project_pages(open_page, dashboard):
    project, run = dashboard.project["id"], dashboard.runs["lion"]
    tab = open_page(f"/#/experiments/{project}/runs/{run}")
    tab.page.wait_for_url(f"**/runs/{run}")
    assert tab.page.locator("h1").inner_text() == "lion-1e-4"
    tab.page.goto(f"{dashboard.url}/#/experiments/{project}")
    tab.page.wait_for_url(f"**/projects/{project}")
    tab.page.goto(f"{dashboard.url}/projects#/not-an-mlflow-link")
    tab.page.wait_for_selector(f"tr[data-project='{project}']")
    assert tab.page.url.endswith("/projects#/not-an-mlflow-link")


def test_an_mlflow_link_opened_signed_out_comes_back_to_the_run(anonymous, dashboard):
    page, run = anonymous.page, dashboard.runs["lion"]
    page.goto(f"{dashboard.url}/#/experiments/{dashboard.project['id']}/runs/{run}")
    page.wait_for_url(lambda url: httpx.URL(url).params.get("next") == f"/runs/{run}")
    assert httpx.URL(page.url).path == "/signin"
