"""A project's Settings page grants a user a role, changes it and revokes it through the UI;
a viewer signed in with a password sees the project's pages without any write control."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long password"


def new_user(dashboard, username: str) -> dict:
    r = dashboard.api("POST", "/users", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()


def members(dashboard, project_id: int) -> dict[str, str]:
    r = dashboard.api("GET", f"/projects/{project_id}/members")
    return {m["username"] or m["team"]: m["role"] for m in r.json()}


def test_the_settings_page_grants_changes_and_revokes_a_role(tab, dashboard):
    project = dashboard.api("POST", "/projects", json={"name": "members-ui"}).json()
    new_user(dashboard, "mira")
    page = tab.page
    page.goto(f"{dashboard.url}/projects/{project['id']}/settings")
    page.select_option("#grant-kind", "username")
    page.fill("#grant-name", "mira")
    page.select_option("#grant-role", "viewer")
    page.click("#grant-submit")
    row = page.locator('#members tr[data-member="mira"]')
    row.wait_for()
    assert members(dashboard, project["id"]) == {"mira": "viewer"}

    with page.expect_navigation():  # a stored change reloads the page
        row.locator("select").select_option("editor")
    assert page.locator('#members tr[data-member="mira"] select').input_value() == "editor"
    assert members(dashboard, project["id"]) == {"mira": "editor"}

    revoke = page.locator('#members tr[data-member="mira"] button:has-text("Revoke")')
    revoke.click()
    assert revoke.inner_text() == "Revoke?"  # the second click confirms
    with page.expect_navigation():
        revoke.click()
    assert page.locator('#members tr[data-member="mira"]').count() == 0
    assert members(dashboard, project["id"]) == {}
    tab.screenshot("project-settings")


def test_a_viewer_sees_no_write_controls(anonymous, dashboard):
    pid = dashboard.project["id"]
    viewer = new_user(dashboard, "vic")
    r = dashboard.api(
        "PUT", f"/projects/{pid}/members", json={"user_id": viewer["id"], "role": "viewer"}
    )
    assert r.status_code == 200, r.text
    page = anonymous.page  # signs in with the viewer's password below
    page.goto(f"{dashboard.url}/signin")
    page.fill("#username", "vic")
    page.fill("#password", PASSWORD)
    page.click("#password-submit")
    page.wait_for_url(f"{dashboard.url}/projects")
    assert "viewer" not in page.locator("#signed-in-role").inner_text()  # no project here

    page.goto(f"{dashboard.url}/projects/{pid}")
    page.locator("#runs table").wait_for()
    assert page.locator("#signed-in-role").inner_text() == "viewer here"
    assert page.locator("a[href$='/submit']").count() == 0  # Submit job
    assert page.locator("#settings-tab").count() == 0
    assert page.locator("#runs button").filter(has_text="Cancel").count() == 0
    assert page.locator("#runs button").filter(has_text="Re-run").count() == 0

    page.goto(f"{dashboard.url}/runs/{dashboard.runs['lion']}")  # a running job
    page.locator("#run-actions a:has-text('Compare')").wait_for()
    page.locator("#note-empty").wait_for()
    assert page.locator("#run-actions button").count() == 0  # no Cancel, no Re-run
    assert page.locator("a[href*='/submit?from=']").count() == 0  # Edit & resubmit
    assert page.locator("#note-edit").count() == 0

    page.goto(f"{dashboard.url}/projects/{pid}/sweeps")
    page.locator("#sweeps .empty, #sweeps table").first.wait_for()
    assert page.locator("a[href$='/sweeps/new']").count() == 0  # New sweep, Start a sweep
    assert anonymous.unexpected_errors() == []
