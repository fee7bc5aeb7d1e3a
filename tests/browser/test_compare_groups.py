"""Compare, "Group by" mode: 3 Lion seeds against 3 AdamW seeds pooled by optimizer, each
group a mean line with a filled band and a table row of its final and best values."""

import math

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRACES = """() => document.getElementById('groups-chart').data.map(t => ({
    name: t.name, fill: t.fill || null, legend: t.showlegend !== false, color: t.line.color }))"""


def _seeds(dashboard) -> list[int]:
    """Six runs in a project of their own: the shared dashboard project's runs table is
    checked run by run elsewhere (its adamw filter must show only the adamw-* runs)."""
    name = f"groups-{len(dashboard.api('GET', '/projects').json()['items'])}"
    r = dashboard.api("POST", "/projects", json={"name": name})
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    ids = []
    for optimizer, lr, tau in (("lion", 1e-4, 30), ("adamw", 1e-3, 45)):
        for seed in range(3):
            run = dashboard.new_run(
                project_id=project_id,
                name=f"group-{optimizer}-{seed}",
                optimizer=optimizer,
                config={"lr": lr, "seed": seed},
            )
            loss = [2.0 * math.exp(-s / tau) + 0.05 * seed for s in range(120)]
            dashboard.log(run, range(120), {"train_loss": loss})
            ids.append(run)
    return ids


def test_seeds_pooled_by_optimizer_draw_two_bands(open_page, dashboard):
    ids = _seeds(dashboard)
    tab = open_page(f"/compare?runs={','.join(map(str, ids))}&view=groups&by=optimizer")
    page = tab.page
    page.wait_for_selector("#groups-chart[data-drawn]")
    traces = page.evaluate(TRACES)
    bands = [t for t in traces if t["fill"] == "tonexty"]
    legend = [t["name"] for t in traces if t["legend"]]
    assert len(bands) == 2
    assert legend == ["adamw (3 runs)", "lion (3 runs)"]
    assert {t["color"] for t in bands} == {"#e8590c", "#1c7ed6"}
    rows = page.eval_on_selector_all(
        "#groups-table tbody tr",
        "rows => rows.map(r => [r.dataset.group, r.querySelector('td[data-n]').dataset.n])",
    )
    assert rows == [["adamw", "3"], ["lion", "3"]]
    assert page.evaluate("performance.getEntriesByName('lionlab:groups-drawn').length") == 1
    assert page.locator("#compare-mode button.on").inner_text() == "Group by"
    page.locator("#groups-controls [data-value='sd']").click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('band') === 'sd'")
    page.wait_for_selector("#groups-chart[data-drawn]")
    assert "view=groups" in page.url and "by=optimizer" in page.url
    axis = "() => document.getElementById('groups-chart').layout.yaxis.type"
    assert page.evaluate(axis) == "linear"
    page.check("#groups-log-y")
    page.wait_for_function("() => new URL(location.href).searchParams.get('glog') === '1'")
    page.wait_for_function(f"() => ({axis})() === 'log'")
    page.reload()
    page.wait_for_selector("#groups-chart[data-drawn]")
    assert page.evaluate(axis) == "log" and page.is_checked("#groups-log-y")
    tab.screenshot("compare-groups")


def test_back_from_groups_the_runs_charts_are_sized_from_the_page(open_page, dashboard):
    """Runs mode, Group by, Runs again: the runs-mode read asks for a point per pixel of the
    page's charts, not for the floor a grid the groups replaced would give."""
    ids = _seeds(dashboard)[:2]
    asked = []
    tab = open_page(f"/compare?runs={','.join(map(str, ids))}")
    page = tab.page
    page.on(
        "request",
        lambda r: asked.append(r.url) if "/api/v1/views/compare?" in r.url else None,
    )
    page.wait_for_selector("#charts[data-drawn]")
    page.locator("#compare-mode button[data-mode=groups]").click()
    page.wait_for_selector("#groups-chart[data-drawn]")
    page.locator("#compare-mode button[data-mode=runs]").click()
    page.wait_for_function("() => !new URL(location.href).searchParams.get('view')")
    page.wait_for_selector("#charts[data-drawn]")

    def points(url: str) -> int:
        from urllib.parse import parse_qs, urlparse

        return int(parse_qs(urlparse(url).query)["max_points"][0])

    assert asked, "runs mode read the compare view again"
    # two charts a row on this 1440-px page: a cell's plot is several hundred pixels wide,
    # and a chart asks for a point per pixel (100 is the floor a detached grid would give)
    cell = int(page.evaluate("document.getElementById('charts').clientWidth")) / 2 - 100
    assert points(asked[-1]) >= cell > 200, (asked[-1], cell)
