"""The project overview in a real browser: status tiles, one table per optimizer whose first
row is that optimizer's best run, links to the runs and to compare them, the newest flags and
the sweeps with verdict badges; a hostile run name is text; an empty project says what to do."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMG = "<img src=x onerror=alert(1)>"
HOSTILE = f"{IMG}<script>alert(1)</script>"
INJECTED = """() => [...document.querySelectorAll('img[src="x"], script')]
    .filter(e => e.tagName === 'IMG' || e.textContent.includes('alert(1)')).length"""
# name, optimizer, lr, eval losses, end status (None: still running)
RUNS = [
    (HOSTILE, "lion", 1e-4, [3.0, 2.0, 1.10], "succeeded"),
    ("lion-3e-4", "lion", 3e-4, [3.0, 2.2, 1.40], "succeeded"),
    ("lion-nan", "lion", 1e-3, ["NaN", "NaN", "NaN"], "diverged"),
    ("adamw-1e-3", "adamw", 1e-3, [3.0, 2.1, 1.25], "succeeded"),
    ("adamw-3e-3", "adamw", 3e-3, [3.0, 2.4, 1.60], None),
    ("sgd-0.1", "sgd", 0.1, [3.0, 2.6, 2.00], "failed"),
]
SWEEP = """\
name: overview-sweep
base: {task: char_lm, steps: 30, eval_interval: 10}
optimizers: [adamw, lion]
seeds: 1
space:
  adamw:
    optimizer.lr: [1.0e-3]
"""


@pytest.fixture(scope="module")
def seeded(dashboard) -> dict:
    """A project of its own (the suite's other pages count their project's runs)."""
    r = dashboard.api("POST", "/projects", json={"name": "overview-page"})
    assert r.status_code == 201, r.text
    project = r.json()
    ids = {}
    for name, optimizer, lr, losses, end in RUNS:
        body = {"project_id": project["id"], "name": name, "optimizer": optimizer}
        r = dashboard.api("POST", "/runs", json={**body, "config": {"lr": lr}})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
        dashboard.log(ids[name], [10, 20, 30], {"eval_loss": losses, "train_loss": losses})
        if end:
            r = dashboard.api("PATCH", f"/runs/{ids[name]}", json={"status": end})
            assert r.status_code == 200, r.text
    r = dashboard.api("POST", "/sweeps", json={"project_id": project["id"], "spec": SWEEP})
    assert r.status_code == 201, r.text
    return {"project": project, "runs": ids, "sweep": r.json()["id"], "dashboard": dashboard}


def test_the_overview_shows_tiles_best_runs_flags_and_sweeps(open_page, seeded):
    pid = seeded["project"]["id"]
    tab = open_page(f"/projects/{pid}/overview")
    page = tab.page
    page.wait_for_selector("body[data-loaded]")
    tiles = page.locator("#status-tiles")
    listed = seeded["dashboard"].api("GET", "/runs", params={"project_id": pid}).json()
    queued = sum(r["status"] == "queued" for r in listed["items"])  # the sweep's trials
    assert tiles.locator("[data-status=total] .v").inner_text() == str(listed["total"])
    assert listed["total"] == len(RUNS) + queued and queued > 0
    assert tiles.locator("[data-status=queued] .v").inner_text() == str(queued)
    assert tiles.locator("[data-status=succeeded] .v").inner_text() == "3"
    assert tiles.locator("[data-status=lost] .v").inner_text() == "0"  # zeros shown too
    assert tiles.locator("[data-status=succeeded]").get_attribute("href") == (
        f"/projects/{pid}?status=succeeded"
    )
    assert page.locator("#metric-select").input_value() == "eval_loss"

    first = {
        opt: page.locator(f".opt-table[data-optimizer={opt}] tbody tr").first
        for opt in ("lion", "adamw", "sgd")
    }
    lion = first["lion"].locator("a.run-name")
    assert lion.inner_text() == HOSTILE  # the name as text, not markup
    assert lion.get_attribute("href") == f"/runs/{seeded['runs'][HOSTILE]}"
    assert "1.1" in first["lion"].inner_text()
    assert first["adamw"].locator("a.run-name").inner_text() == "adamw-1e-3"
    assert first["sgd"].locator("a.run-name").inner_text() == "sgd-0.1"
    # the NaN-only run is not ranked
    assert page.locator(".opt-table[data-optimizer=lion] tbody tr").count() == 2
    compare = page.locator(".opt-table[data-optimizer=lion] a.compare-these")
    runs = seeded["runs"]
    assert compare.get_attribute("href") == f"/compare?runs={runs[HOSTILE]},{runs['lion-3e-4']}"
    colour = page.eval_on_selector(
        ".opt-table[data-optimizer=lion]", "e => getComputedStyle(e).borderTopColor"
    )
    assert colour == "rgb(232, 89, 12)"  # Lion's orange, as on the charts

    # the NaN losses raised a divergence flag, listed with a link to its run
    flag = page.locator(f"#flags li[data-run='{runs['lion-nan']}']").first
    assert "divergence" in flag.inner_text()
    assert flag.locator("a.run-name").get_attribute("href") == f"/runs/{runs['lion-nan']}"
    sweep = page.locator(f"#overview-sweeps tr[data-sweep='{seeded['sweep']}']")
    assert sweep.locator("a.run-name").get_attribute("href") == f"/sweeps/{seeded['sweep']}"
    assert sweep.locator(".verdict-badge").count() == 1
    assert page.evaluate(INJECTED) == 0
    tab.screenshot("overview")

    page.select_option("#mode-select", "max")
    page.wait_for_function(
        "() => document.querySelector('.opt-table[data-optimizer=lion] th:nth-child(5)')"
        ".textContent === 'Best (max)'"
    )
    assert "mode=max" in page.url
    row = page.locator(".opt-table[data-optimizer=lion] tbody tr").first
    assert "3" in row.locator("td").nth(4).inner_text()


def test_the_projects_list_links_to_the_overview(open_page, seeded):
    pid = seeded["project"]["id"]
    page = open_page("/projects").page
    link = page.locator(f"tr[data-project='{pid}'] a.run-name")
    link.click()
    page.wait_for_url(f"**/projects/{pid}/overview")
    page.wait_for_selector("body[data-loaded]")
    assert page.locator("#overview-tab").get_attribute("aria-current") == "page"


def test_an_empty_project_says_how_to_start_a_run(open_page, dashboard):
    r = dashboard.api("POST", "/projects", json={"name": "overview-empty"})
    assert r.status_code == 201, r.text
    page = open_page(f"/projects/{r.json()['id']}/overview").page
    page.wait_for_selector("body[data-loaded]")
    assert "No runs yet" in page.locator("#best").inner_text()
    assert 'lionlab.init(project="overview-empty"' in page.locator("#best pre").inner_text()
    assert "No sweeps yet" in page.locator("#sweeps").inner_text()
    assert page.locator("#status-tiles [data-status=total] .v").inner_text() == "0"
