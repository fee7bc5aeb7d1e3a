"""Sign-in with an API token: the HttpOnly cookie, redirects when signed out, sign-out,
and the CSRF header cookie-authenticated writes need."""

from urllib.parse import quote

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_signed_out_visit_is_redirected_and_the_api_refuses(anonymous, dashboard):
    page = anonymous.page
    run_path = f"/runs/{dashboard.runs['lion']}?x=step"
    page.goto(dashboard.url + run_path)
    assert page.url == f"{dashboard.url}/signin?next={quote(run_path, safe='')}"
    assert page.locator("#token").is_visible()
    for path in ("/projects", "/compare?runs=1", f"/projects/{dashboard.project['id']}/submit"):
        page.goto(dashboard.url + path)
        assert "/signin?next=" in page.url
    answer = page.request.get(f"{dashboard.url}/api/v1/runs/{dashboard.runs['lion']}")
    assert answer.status == 401
    answer = page.request.get(f"{dashboard.url}/api/v1/views/runs/{dashboard.runs['lion']}")
    assert answer.status == 401
    assert anonymous.errors == []  # the sign-in page itself loads cleanly
    anonymous.screenshot("signin")


def test_a_wrong_token_is_refused_with_a_message(anonymous, dashboard):
    page = anonymous.page
    page.goto(f"{dashboard.url}/signin")
    page.fill("#token", "llk_not-a-real-token")
    with page.expect_response(lambda r: r.url.endswith("/signin")) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    assert "unknown or was revoked" in page.locator("#signin-error").inner_text()
    assert page.context.cookies() == []
    anonymous.screenshot("signin-error")


def test_sign_in_sets_an_httponly_strict_cookie_and_sign_out_clears_it(anonymous, dashboard):
    page = anonymous.page
    target = f"/runs/{dashboard.runs['adamw']}"
    page.goto(dashboard.url + target)
    page.fill("#token", dashboard.server.token)
    page.click("button[type=submit]")
    page.wait_for_url(dashboard.url + target)
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "lionlab_token",
        True,
        "Strict",
    )
    assert "lionlab_token" not in page.evaluate("document.cookie")  # scripts cannot read it
    page.wait_for_selector("#charts[data-drawn]")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{dashboard.url}/signin?signed_out=1")
    assert page.context.cookies() == []
    page.goto(f"{dashboard.url}/projects")
    assert "/signin?next=" in page.url
    assert anonymous.errors == []


def test_cookie_writes_need_the_csrf_header(tab, dashboard):
    page = tab.page
    page.goto(f"{dashboard.url}/projects")
    write = """async ([csrf, project]) => {
        const headers = {"Content-Type": "application/json"};
        if (csrf) headers["X-LionLab-CSRF"] = "1";
        const r = await fetch("/api/v1/jobs/check", {method: "POST", headers,
            body: JSON.stringify({project_id: project, job: {}})});
        return r.status;
    }"""
    assert page.evaluate(write, [False, dashboard.project["id"]]) == 403
    assert page.evaluate(write, [True, dashboard.project["id"]]) == 200
    tab.errors.clear()  # the refused fetch logs a console error by design
