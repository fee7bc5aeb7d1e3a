"""Users: password sign-in into a server-side session, sign-out that revokes it, disabled
users, the failed sign-in slow-down, the one-time sign-in link and the account page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from lionlab.settings import Settings
from lionlab_server.models import SignInFailure, SignInLink, utcnow
from lionlab_server.store import users
from lionlab_server.store.tokens import hash_token

PASSWORD = "correct horse battery"
CSRF = {"X-LionLab-CSRF": "1"}


def make_user(app, name: str, password: str | None = PASSWORD, is_admin: bool = False):
    with app.state.sessionmaker() as session, session.begin():
        return users.create_user(session, name, password=password, is_admin=is_admin)


def sign_in(client, username: str, password: str, **kw):
    form = {"username": username, "password": password, "next": "/projects"}
    return client.post("/signin", data=form, follow_redirects=False, **kw)


def link_for(app, username: str = "admin") -> str:
    """The first-start link (creating the admin user) as a path."""
    with app.state.sessionmaker() as session, session.begin():
        return f"/signin/once/{users.first_admin_link(session, hours=24)}"


def test_password_sign_in_starts_a_session_and_sign_out_revokes_it(api, app):
    make_user(app, "alice", is_admin=True)
    client = api.client
    r = sign_in(client, "Alice", PASSWORD)  # usernames are case-insensitive
    assert r.status_code == 303 and r.headers["location"] == "/projects"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("lionlab_session=lls_")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    secret = client.cookies["lionlab_session"]

    assert client.get("/api/v1/projects").status_code == 200
    page = client.get("/projects", follow_redirects=False)
    assert page.status_code == 200 and "Signed in as alice" in page.text

    r = client.post("/signout", follow_redirects=False)
    assert r.status_code == 303 and "lionlab_session" not in client.cookies
    client.cookies.set("lionlab_session", secret)  # the old cookie, kept by an attacker
    r = client.get("/api/v1/projects")
    assert r.status_code == 401 and "signed out" in r.json()["detail"][0]["msg"]
    assert (
        client.get("/projects", follow_redirects=False)
        .headers["location"]
        .startswith("/signin?next=")
    )


def test_session_cookie_over_https_is_secure(api, app):
    from fastapi.testclient import TestClient

    make_user(app, "alice")
    with TestClient(app, base_url="https://testserver") as https:
        r = sign_in(https, "alice", PASSWORD)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_a_wrong_password_or_unknown_user_is_refused(api, app):
    make_user(app, "alice")
    for username, password in (
        ("alice", "not the password"),
        ("bob", PASSWORD),
        ("nul\x00name", PASSWORD),  # Postgres cannot even compare this: refused before
        ("x" * 65, PASSWORD),
    ):
        r = sign_in(api.client, username, password)
        assert r.status_code == 401 and "Wrong username or password" in r.text
        assert "lionlab_session" not in api.client.cookies


def test_a_disabled_user_cannot_sign_in_and_its_session_ends_within_the_cache_time(api, app):
    from lionlab_server.api.deps import TOKEN_TTL_S, token_cache

    now = [0.0]
    app.state.token_cache = token_cache(timer=lambda: now[0])
    alice = make_user(app, "alice", is_admin=True)
    assert sign_in(api.client, "alice", PASSWORD).status_code == 303
    assert api.client.get("/api/v1/projects").status_code == 200  # scope now cached

    with app.state.sessionmaker() as session, session.begin():
        users.set_disabled(session, alice.id)
    now[0] = TOKEN_TTL_S + 0.1
    assert api.client.get("/api/v1/projects").status_code == 401
    api.client.cookies.clear()
    assert sign_in(api.client, "alice", PASSWORD).status_code == 401


def test_repeated_failures_are_slowed_down_with_a_doubling_wait(api, app):
    make_user(app, "alice")
    for _ in range(users.FREE_FAILURES - 1):
        assert sign_in(api.client, "alice", "wrong password").status_code == 401
    r = sign_in(api.client, "alice", "wrong password")  # the last free failure
    assert r.status_code == 401 and "must wait" in r.text

    r = sign_in(api.client, "alice", PASSWORD)  # even the right password waits
    assert r.status_code == 429 and "lionlab_session" not in api.client.cookies
    assert 0 < int(r.headers["retry-after"]) <= users.BASE_DELAY_S

    def wait_is_over() -> None:
        with app.state.sessionmaker() as session, session.begin():
            session.execute(update(SignInFailure).values(blocked_until=utcnow()))

    wait_is_over()
    assert sign_in(api.client, "alice", "wrong again").status_code == 401
    r = sign_in(api.client, "alice", PASSWORD)
    assert r.status_code == 429
    assert users.BASE_DELAY_S < int(r.headers["retry-after"]) <= 2 * users.BASE_DELAY_S

    wait_is_over()
    assert sign_in(api.client, "alice", PASSWORD).status_code == 303
    with app.state.sessionmaker() as session:  # a success forgets the failures
        assert session.query(SignInFailure).count() == 0


def test_the_one_time_link_signs_in_once_and_asks_for_a_password(api, app):
    path = link_for(app)
    client = api.client
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account?welcome=1"
    page = client.get("/account?welcome=1")
    assert "Set a password" in page.text and 'id="account-welcome"' in page.text
    assert "Signed in as admin" in page.text
    assert client.post("/api/v1/projects", json={"name": "p"}, headers=CSRF).status_code == 201

    client.cookies.clear()
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 410 and "already used" in r.text
    assert "lionlab_session" not in client.cookies
    r = client.get("/signin/once/lll_made-up", follow_redirects=False)
    assert r.status_code == 404 and "not valid" in r.text


def test_an_expired_link_is_refused(api, app):
    path = link_for(app)
    secret = path.rsplit("/", 1)[1]
    with app.state.sessionmaker() as session, session.begin():
        session.execute(
            update(SignInLink)
            .where(SignInLink.id == hash_token(secret))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = api.client.get(path, follow_redirects=False)
    assert r.status_code == 410 and "expired" in r.text
    assert "lionlab_session" not in api.client.cookies


def test_the_account_page_sets_then_changes_the_password(api, app):
    client = api.client
    client.get(link_for(app), follow_redirects=False)

    def set_password(new, again, current=None):
        form = {"new_password": new, "new_password_again": again}
        if current is not None:
            form["current_password"] = current
        return client.post("/account/password", data=form, follow_redirects=False)

    assert set_password("short", "short").status_code == 400
    r = set_password("long enough 1", "long enough 2")
    assert r.status_code == 400 and "differ" in r.text
    r = set_password("long enough 1", "long enough 1")
    assert r.status_code == 303 and r.headers["location"] == "/account?saved=1"
    assert "Change your password" in client.get("/account").text
    with app.state.sessionmaker() as session, session.begin():  # no link once it has one
        assert users.first_admin_link(session, hours=24) is None

    r = set_password("another one", "another one", current="wrong")
    assert r.status_code == 400 and "current password is wrong" in r.text
    assert set_password("another one", "another one", "long enough 1").status_code == 303

    client.cookies.clear()
    assert sign_in(client, "admin", "long enough 1").status_code == 401
    assert sign_in(client, "admin", "another one").status_code == 303


def test_session_cookie_writes_need_the_csrf_header_and_follow_the_admin_flag(api, app):
    make_user(app, "root", is_admin=True)
    make_user(app, "carol")
    client = api.client
    api.project("theirs")
    sign_in(client, "root", PASSWORD)
    r = client.post("/api/v1/projects", json={"name": "x"})
    assert r.status_code == 403 and "X-LionLab-CSRF" in r.json()["detail"][0]["msg"]
    assert client.post("/api/v1/projects", json={"name": "x"}, headers=CSRF).status_code == 201

    client.cookies.clear()
    sign_in(client, "carol", PASSWORD)  # no admin flag, and no project granted to her yet
    assert client.get("/api/v1/projects").json()["items"] == []
    r = client.post("/api/v1/projects", json={"name": "y"}, headers=CSRF)
    assert r.status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])
def test_first_start_in_embedded_mode_prints_a_link_for_the_admin(tmp_path, backend):
    from lionlab_server.commands import _banner
    from lionlab_server.db import make_engine, make_sessionmaker
    from lionlab_server.services.bootstrap import prepare

    settings = Settings(data_dir=tmp_path)  # no database URL: embedded
    engine = make_engine(settings.resolved_database_url)
    plain = prepare(engine, settings)  # as `lionlab migrate` and `token create` do
    assert plain.admin_token is not None and plain.sign_in_path is None
    first = prepare(engine, settings, sign_in_link=True)  # as `lionlab up` and `server` do
    assert first.sign_in_path.startswith("/signin/once/lll_")
    banner = _banner(settings, first, ["API server"])
    assert f"http://127.0.0.1:{settings.port}{first.sign_in_path}" in banner

    again = prepare(engine, settings, sign_in_link=True)  # a restart: a new link
    with make_sessionmaker(engine)() as session:
        with pytest.raises(users.LinkRefused, match="expired"):
            users.use_sign_in_link(session, first.sign_in_path.rsplit("/", 1)[1])
        assert users.use_sign_in_link(session, again.sign_in_path.rsplit("/", 1)[1]) > 0
    engine.dispose()
