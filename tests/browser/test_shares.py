"""Share links in a real browser: an editor's Share button makes a link; opened in a fresh
browser context (no account, no cookie) it shows the shared run's charts under a read-only
banner, with no write controls, and a neighbouring run's page is refused (sign-in)."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_run_link_opens_in_a_fresh_context_and_nothing_else_does(open_page, anonymous, dashboard):
    lion, adamw = dashboard.runs["lion"], dashboard.runs["adamw"]
    tab = open_page(f"/runs/{lion}")
    page = tab.page
    page.click("#share-link")
    url = page.input_value("#share-url")
    assert f"{dashboard.url}/share/lsh_" in url
    tab.screenshot("share-created")

    shared, errors = anonymous.page, anonymous.errors  # a fresh context: no cookie, no account
    context = shared.context
    shared.goto(url)
    shared.wait_for_selector("#charts[data-drawn]")
    banner = shared.text_content("#share-banner")
    assert "Shared, read-only view of run" in banner and "lion-1e-4" in banner
    assert "expires" in banner
    assert shared.locator("#charts .chart").count() >= 2  # the run's own charts
    shared.wait_for_selector("#run-badges .badge")
    assert shared.locator("#run-actions button, #run-actions a").count() == 0
    assert shared.locator("#share-link").count() == 0
    assert shared.is_hidden("#note-edit")
    assert shared.locator("a[href='/projects']").count() == 0  # no project navigation
    assert context.cookies() == []  # the link sets no cookie
    assert errors == [], errors
    anonymous.screenshot("share-run")

    shared.goto(f"{dashboard.url}/runs/{adamw}")  # the neighbouring run: refused
    assert "/signin" in shared.url
    assert "adamw-1e-3" not in shared.content()


def test_a_comparison_link_shows_its_runs_read_only(anonymous, dashboard):
    lion, adamw = dashboard.runs["lion"], dashboard.runs["adamw"]
    pid = dashboard.project["id"]
    body = {"name": "shared: lion against adamw", "state": {"runs": [lion, adamw]}}
    saved = dashboard.api("POST", f"/projects/{pid}/comparisons", json=body).json()
    created = dashboard.api(
        "POST", "/shares", json={"kind": "comparison", "object_id": saved["id"]}
    )
    assert created.status_code == 201, created.text

    page, errors = anonymous.page, anonymous.errors
    page.goto(dashboard.url + created.json()["url"])
    page.wait_for_selector("#charts[data-drawn]")
    assert "comparison “shared: lion against adamw”" in page.text_content("#share-banner")
    assert page.text_content("#compare-title") == "shared: lion against adamw"
    chips = page.eval_on_selector_all(
        "#selection .run-chip", "els => els.map(e => Number(e.dataset.run))"
    )
    assert chips == [lion, adamw]
    assert page.locator("#picker, #save-open, #selection button").count() == 0
    assert page.locator("#compare-body a[href^='/runs/']").count() == 0
    assert errors == [], errors
    anonymous.screenshot("share-comparison")


def test_an_owner_lists_and_revokes_links_and_a_revoked_link_does_not_open(
    open_page, anonymous, dashboard
):
    pid = dashboard.project["id"]
    body = {"name": "to revoke", "state": {"runs": [dashboard.runs["lion"]]}}
    saved = dashboard.api("POST", f"/projects/{pid}/comparisons", json=body).json()
    tab = open_page(f"/projects/{pid}/comparisons")
    page = tab.page
    page.click(f"#comparisons-table tr[data-comparison='{saved['id']}'] .share-comparison")
    url = page.input_value("#share-url")

    page.click("#shares-link")
    row = page.locator(f"#shares-table tbody tr:has(a[href='/compare?comparison={saved['id']}'])")
    row.wait_for()
    assert row.locator(".share-state").text_content() == "live"
    row.locator("button", has_text="Revoke").click()
    row.locator("button", has_text="Revoke it?").click()
    page.wait_for_function(
        "id => document.querySelector(`#shares-table tr[data-share='${id}'] .share-state`)"
        "?.textContent.startsWith('revoked')",
        arg=row.get_attribute("data-share"),
    )
    tab.screenshot("share-links")

    anonymous.page.goto(url)
    assert anonymous.page.locator("#share-gone").is_visible()
    assert anonymous.page.locator("#charts").count() == 0
