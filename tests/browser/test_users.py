"""The first start's one-time link, a password set on the account page, then a password
sign-in and a sign-out that ends the session on the server."""

import re

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_first_start_link_then_password_sign_in_and_sign_out(anonymous, dashboard):
    page = anonymous.page
    (link,) = re.findall(r"http://\S+/signin/once/\S+", dashboard.server.text())
    page.goto(link)
    page.wait_for_url(f"{dashboard.url}/account?welcome=1")
    assert page.locator("#signed-in-as").inner_text() == "Signed in as admin"
    page.fill("#new_password", "a long password")
    page.fill("#new_password_again", "a long password")
    page.click("#password-form button")
    page.wait_for_url(f"{dashboard.url}/account?saved=1")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{dashboard.url}/signin?signed_out=1")
    assert page.context.cookies() == []

    page.goto(link)  # spent: it says so and signs nobody in
    assert "already used" in page.locator("#link-verdict").inner_text()
    assert page.context.cookies() == []

    page.goto(f"{dashboard.url}/projects")
    page.fill("#username", "admin")
    page.fill("#password", "a long password")
    page.click("#password-submit")
    page.wait_for_url(f"{dashboard.url}/projects")
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "lionlab_session",
        True,
        "Lax",
    )
    assert "lionlab_session" not in page.evaluate("document.cookie")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{dashboard.url}/signin?signed_out=1")
    old = httpx.get(f"{dashboard.url}/api/v1/projects", cookies={cookie["name"]: cookie["value"]})
    assert old.status_code == 401  # revoked on the server, not only forgotten by the browser
