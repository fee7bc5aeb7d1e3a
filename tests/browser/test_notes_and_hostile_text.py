"""Run notes on the run page (markdown shown formatted, edited in place and saved), their
first line in the comparison, and user text that looks like HTML (a run's name, tag, param
value, note and creator; a sweep's name) shown as text on every page, with no script run."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
HOSTILE = f"{IMG}{SCRIPT}"
SWEEP_SPEC = """\
name: "{name}"
description: "{name}"
base:
  task: char_lm
  steps: 200
optimizers: [adamw, lion]
space:
  adamw:
    optimizer.lr: [1.0e-3]
"""
# Elements the hostile text would have made if any page had parsed it as HTML.
INJECTED = """() => [...document.querySelectorAll('img[src="x"], script')]
    .filter(e => e.tagName === 'IMG' || e.textContent.includes('alert(1)')).length"""


@pytest.fixture(scope="module")
def hostile(dashboard) -> dict:
    """A project of its own (the suite's other pages count their project's runs), with a
    hostile run (made by a token with a hostile name) and a plain one beside it, both with a
    few logged points."""
    r = dashboard.api("POST", "/projects", json={"name": "hostile-text"})
    assert r.status_code == 201, r.text
    project = r.json()
    r = dashboard.api("POST", "/tokens", json={"name": HOSTILE, "project_id": project["id"]})
    assert r.status_code == 201, r.text
    by_hostile = {"Authorization": f"Bearer {r.json()['token']}"}
    ids = {}
    for role, lr in (("hostile", HOSTILE), ("plain", "3e-4")):
        body = {
            "project_id": project["id"],
            "name": HOSTILE if role == "hostile" else "plain",
            "optimizer": "lion",
            "tags": [HOSTILE[:100]] if role == "hostile" else ["plain"],
            "config": {"lr": lr},
        }
        headers = by_hostile if role == "hostile" else {}
        r = dashboard.api("POST", "/runs", json=body, headers=headers)
        assert r.status_code == 201, r.text
        ids[role] = r.json()["id"]
        dashboard.log(ids[role], range(5), {"train_loss": [3.0, 2.5, 2.0, 1.8, 1.7]})
    r = dashboard.api("PUT", f"/runs/{ids['hostile']}/note", json={"text": f"{HOSTILE}\n\n{IMG}"})
    assert r.status_code == 200, r.text
    r = dashboard.api(
        "POST",
        "/sweeps",
        json={"project_id": project["id"], "spec": SWEEP_SPEC.format(name=HOSTILE)},
    )
    assert r.status_code == 201, r.text
    return {"project": project, "sweep": r.json()["id"], **ids}


@pytest.fixture
def dialogs(tab) -> list[str]:
    """Messages of every alert/confirm the page opened (each is dismissed)."""
    seen: list[str] = []

    def record(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    tab.page.on("dialog", record)
    return seen


def test_a_markdown_note_shows_formatted_and_is_edited_in_place(open_page, dashboard):
    run_id = dashboard.new_run(name="noted", optimizer="lion")
    text = (
        "# Findings\n\n**Lion** beat AdamW; see "
        "[the paper](https://arxiv.org/abs/2302.06675).\n\n- lr 3e-4\n- wd 0.1"
    )
    assert dashboard.api("PUT", f"/runs/{run_id}/note", json={"text": text}).status_code == 200
    tab = open_page(f"/runs/{run_id}")
    page = tab.page
    note = page.locator("#note-text")
    note.locator("h1").wait_for()
    assert note.locator("h1").inner_text() == "Findings"
    assert note.locator("strong").inner_text() == "Lion"
    assert note.locator("a").get_attribute("href") == "https://arxiv.org/abs/2302.06675"
    assert note.locator("li").all_inner_texts() == ["lr 3e-4", "wd 0.1"]
    assert "Edited by" in page.locator("#note-meta").inner_text()

    page.locator("#note-edit").click()
    assert page.locator("#note-input").input_value() == text
    page.locator("#note-input").fill("## Edited\n\nnow with `code`")
    page.locator("#note-save").click()
    note.locator("h2").wait_for()
    assert note.locator("h2").inner_text() == "Edited"
    assert note.locator("code").inner_text() == "code"
    stored = dashboard.api("GET", f"/runs/{run_id}/note").json()
    assert stored["text"] == "## Edited\n\nnow with `code`"
    assert stored["updated_by"]  # the signed-in token's name
    tab.screenshot("run-note")


def _assert_inert(page, dialogs) -> None:
    assert page.evaluate(INJECTED) == 0
    assert dialogs == []


def test_hostile_text_is_text_in_the_runs_table(open_page, hostile, dialogs):
    tab = open_page(f"/projects/{hostile['project']['id']}")
    page = tab.page
    name = page.locator(f"tr[data-run='{hostile['hostile']}'] a.run-name")
    name.wait_for()
    assert name.inner_text() == HOSTILE
    row = page.locator(f"tr[data-run='{hostile['hostile']}']").inner_text()
    assert row.count(IMG) >= 3  # the name, the tag and the creator (the token's name)
    _assert_inert(page, dialogs)


def test_hostile_text_is_text_on_the_run_page(open_page, hostile, dialogs):
    tab = open_page(f"/runs/{hostile['hostile']}")
    page = tab.page
    page.locator("#note-text").wait_for()
    page.wait_for_selector("#charts[data-drawn]")
    assert page.locator("#run-name").inner_text() == HOSTILE
    assert page.title() == f"{HOSTILE} · LionLab"
    assert page.locator(".crumbs").inner_text().endswith(HOSTILE)
    assert page.locator("#note-text").inner_text().split("\n")[0] == HOSTILE
    assert HOSTILE in page.locator("#config").inner_text()  # the param value
    _assert_inert(page, dialogs)


def test_hostile_text_is_text_on_the_compare_page(open_page, hostile, dialogs):
    tab = open_page(f"/compare?runs={hostile['hostile']},{hostile['plain']}")
    page = tab.page
    page.wait_for_selector("#charts[data-drawn]")
    row = page.locator(f"#params tr[data-run='{hostile['hostile']}']")
    assert row.locator("a.run-name").inner_text() == HOSTILE
    assert row.locator(".note-excerpt").inner_text() == HOSTILE  # the note's first line
    assert HOSTILE in row.inner_text()  # the differing param
    assert page.locator("#params tr[data-run] .note-excerpt").count() == 1  # plain has none
    # Plotly draws the run's label (its name, or its params) as SVG text
    legend = page.eval_on_selector_all("#charts .legendtext", "els => els.map(e => e.textContent)")
    assert any(IMG in t for t in legend), legend
    _assert_inert(page, dialogs)


def test_hostile_text_is_text_on_the_sweep_pages(open_page, hostile, dialogs):
    for path in (f"/sweeps/{hostile['sweep']}", f"/sweeps/{hostile['sweep']}/report"):
        page = open_page(path).page
        page.locator("#sweep-name", has_text=IMG).wait_for()
        assert page.locator("#sweep-name").inner_text() == HOSTILE
        page.locator("#trials tbody tr").first.wait_for()  # the trials drawn by the page's JS
        _assert_inert(page, dialogs)
    page.goto(f"{page.url.split('/sweeps/')[0]}/projects/{hostile['project']['id']}/sweeps")
    page.locator("a.run-name", has_text=IMG).wait_for()
    assert page.locator("a.run-name").first.inner_text() == HOSTILE
    _assert_inert(page, dialogs)


def test_hostile_text_is_text_on_the_audit_page(open_page, hostile, dialogs):
    page = open_page(f"/projects/{hostile['project']['id']}/audit").page
    row = page.locator("#audit-events tr[data-action='run.created']", has_text=IMG).first
    row.wait_for()
    assert HOSTILE in row.inner_text()  # the run's name, in the event's detail
    _assert_inert(page, dialogs)


def test_hostile_text_is_text_on_the_overview(open_page, hostile, dialogs):
    page = open_page(f"/projects/{hostile['project']['id']}/overview").page
    page.wait_for_selector("body[data-loaded]")
    row = page.locator(f".opt-table tr[data-run='{hostile['hostile']}']")
    assert row.locator("a.run-name").inner_text() == HOSTILE  # the best Lion run's name
    sweep = page.locator(f"#overview-sweeps tr[data-sweep='{hostile['sweep']}'] a.run-name")
    assert sweep.inner_text() == HOSTILE
    _assert_inert(page, dialogs)
