"""Run notes: a markdown note per run, read by whoever sees the run, written by whoever may
write to its project; the editor and the time are recorded, and the HTML carries no markup
from the text."""

from __future__ import annotations

from sqlalchemy import func, select

from lionlab_server.models import RunNote
from lionlab_server.store import users

CSRF = {"X-LionLab-CSRF": "1"}
HOSTILE = "<img src=x onerror=alert(1)> <script>alert(1)</script> [x](javascript:alert(1))"


def _token(api, name: str, project_id: int) -> dict[str, str]:
    r = api.post("/tokens", json={"name": name, "project_id": project_id})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _put(api, run_id: int, text: str, headers=None):
    return api.client.put(
        f"/api/v1/runs/{run_id}/note", json={"text": text}, headers=headers or api.headers
    )


def _stored(app) -> int:
    with app.state.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(RunNote))


def test_a_note_is_written_read_and_rendered_with_its_editor(api):
    project = api.project()
    run = api.run(project["id"], name="lion-3e-4")["id"]
    empty = api.get(f"/runs/{run}/note").json()
    assert empty == {
        "run_id": run, "text": "", "html": "", "updated_at": None, "updated_by": None
    }  # fmt: skip

    ci = _token(api, "ci-bot", project["id"])
    text = "## Why\nLion at **3x lower** lr than [AdamW](https://arxiv.org/abs/2302.06675)."
    r = _put(api, run, text, headers=ci)
    assert r.status_code == 200, r.text
    note = api.get(f"/runs/{run}/note").json()
    assert note["text"] == text and note["updated_by"] == "ci-bot"
    assert note["updated_at"] is not None
    assert "<h2>Why</h2>" in note["html"] and "<strong>3x lower</strong>" in note["html"]
    assert 'href="https://arxiv.org/abs/2302.06675"' in note["html"]

    r = _put(api, run, "second version")  # replaced whole, by the admin token this time
    assert r.json()["text"] == "second version"
    assert r.json()["updated_by"] != "ci-bot"
    assert _stored(api.client.app) == 1

    assert _put(api, run, "").json()["text"] == ""  # empty removes it
    assert _stored(api.client.app) == 0


def test_a_signed_in_user_is_recorded_by_username(api, app):
    project = api.project()
    run = api.run(project["id"])["id"]
    with app.state.sessionmaker() as session, session.begin():
        users.create_user(session, "alice", password="correct horse battery", is_admin=True)
    form = {"username": "alice", "password": "correct horse battery", "next": "/projects"}
    assert api.client.post("/signin", data=form, follow_redirects=False).status_code == 303
    r = api.client.put(f"/api/v1/runs/{run}/note", json={"text": "seen"}, headers=CSRF)
    assert r.status_code == 200, r.text
    assert r.json()["updated_by"] == "alice"


def test_raw_html_and_script_links_are_text_in_the_rendered_note(api):
    run = api.run(api.project()["id"])["id"]
    html = _put(api, run, HOSTILE).json()["html"]
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "href" not in html  # the javascript: link is left as its markdown text


def test_a_run_of_another_project_is_404_for_a_project_token(api, app):
    mine, theirs = api.project("mine"), api.project("theirs")
    their_run = api.run(theirs["id"])["id"]
    _put(api, their_run, "theirs")
    scoped = _token(api, "ci", mine["id"])
    assert api.get(f"/runs/{their_run}/note", headers=scoped).status_code == 404
    assert _put(api, their_run, "overwritten", headers=scoped).status_code == 404
    assert api.get(f"/runs/{their_run}/note").json()["text"] == "theirs"
    assert _put(api, 2**31 - 1, "no such run").status_code == 404
    assert _stored(app) == 1


def test_too_long_or_unstorable_text_is_422_and_nothing_is_stored(api, app):
    run = api.run(api.project()["id"])["id"]
    assert _put(api, run, "x" * 20_000).status_code == 200
    r = _put(api, run, "y" * 20_001)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
    assert _put(api, run, "nul \x00 here").status_code == 422
    note = api.get(f"/runs/{run}/note").json()
    assert note["text"] == "x" * 20_000  # the note before the refused writes
    assert _put(api, run + 1, "y" * 20_001).status_code == 404  # authorization comes first
    assert _stored(app) == 1


def test_cookie_writes_need_the_csrf_header(api, app):
    run = api.run(api.project()["id"])["id"]
    api.client.cookies.set("lionlab_token", api.token)
    r = api.client.put(f"/api/v1/runs/{run}/note", json={"text": "forged"})
    assert r.status_code == 403
    assert _stored(app) == 0


def test_the_comparison_shows_each_notes_first_line_as_text(api):
    project = api.project()
    a, b = api.run(project["id"])["id"], api.run(project["id"])["id"]
    _put(api, a, "\n# <b>Lion</b> wins at lr 1e-4\n\nlong story")
    r = api.get("/views/compare", params={"run": [a, b]})
    assert r.status_code == 200, r.text
    notes = {row["row"]["run"]["id"]: row["note"] for row in r.json()["runs"]}
    assert notes == {a: "<b>Lion</b> wins at lr 1e-4", b: ""}


def test_deleting_the_run_deletes_its_note(api, app):
    from sqlalchemy import delete

    from lionlab_server.models import Run

    run = api.run(api.project()["id"])["id"]
    _put(api, run, "kept until the run goes")
    with app.state.sessionmaker() as session, session.begin():
        session.execute(delete(Run).where(Run.id == run))
    assert _stored(app) == 0
