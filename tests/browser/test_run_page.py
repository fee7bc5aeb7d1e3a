"""The run page: the browser draws each chart from the series the server sends: one trace per
logged metric, smoothing by the toolbar's weight, NaN marks, flags as shapes, zoom refetching
the visible range at full detail, wall-clock axes in local time, and live updates."""

from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from tests.browser.conftest import VIEWPORT, sign_in_cookie, watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHARTS = """() => [...document.querySelectorAll('#charts .chart')].map(gd => ({
    chart: gd.dataset.chart,
    traces: (gd.data || []).map(t => ({...t.meta, n: t.x ? t.x.length : 0})),
    shapes: (gd.layout.shapes || []).map(s => s.name),
    xtype: gd._fullLayout.xaxis.type, ytype: gd._fullLayout.yaxis.type,
    xtitle: gd._fullLayout.xaxis.title.text, range: gd._fullLayout.xaxis.range,
    refetches: Number(gd.dataset.refetches || 0),
}))"""
ALL_DRAWN = """() => { const c = [...document.querySelectorAll('#charts .chart')];
    return c.length > 0 && c.every(gd => gd.data && gd._fullLayout); }"""
TRACE = """([chart, key, role]) => {
    const gd = document.querySelector(`[data-chart="${chart}"]`);
    const t = gd.data.find(t => t.meta.key === key && t.meta.role === role);
    return {x: Array.from(t.x), y: Array.from(t.y, v => Number.isFinite(v) ? v : null),
            customdata: t.customdata ? Array.from(t.customdata) : null,
            text: t.text || null, smoothing: t.meta.smoothing};
}"""


def tensorboard_ema(values, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA, written out here as the reference the page must match:
    NaN points stay NaN and do not enter the average."""
    out, last, seen = np.array(values, dtype=float), 0.0, 0
    for i, v in enumerate(out.tolist()):
        if np.isfinite(v):
            last, seen = last * weight + (1 - weight) * v, seen + 1
            out[i] = last / (1 - weight**seen)
    return out


def open_run(open_page, run_id: int, query: str = ""):
    tab = open_page(f"/runs/{run_id}{query}")
    tab.page.wait_for_function(ALL_DRAWN)
    return tab


def drag_zoom(page, chart: str, left: float, right: float) -> None:
    """Drag across a chart's plot area, as a user zooms into an x range."""
    area = page.locator(f'[data-chart="{chart}"] .nsewdrag').bounding_box()
    y = area["y"] + area["height"] / 2
    page.mouse.move(area["x"] + area["width"] * left, y)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * right, y + 2, steps=8)
    page.mouse.up()


def wait_refetches(page, chart: str, count: int) -> None:
    page.wait_for_function(
        '([c, n]) => Number(document.querySelector(`[data-chart="${c}"]`).dataset.refetches) >= n',
        arg=[chart, count],
    )


def raw_keys(charts) -> list[str]:
    return sorted(t["key"] for c in charts for t in c["traces"] if t["role"] == "raw")


def test_one_trace_per_logged_metric(open_page, dashboard):
    tab = open_run(open_page, dashboard.runs["lion"])
    charts = tab.page.evaluate(CHARTS)
    assert raw_keys(charts) == sorted(dashboard.keys["lion"])
    assert [c["chart"] for c in charts][:2] == ["loss", "grad_norm"]
    loss = next(c for c in charts if c["chart"] == "loss")
    assert sorted(t["key"] for t in loss["traces"] if t["role"] == "smoothed") == [
        "eval_loss",
        "train_loss",
    ]
    assert tab.page.locator("#run-badges [data-status]").inner_text() == "Running"
    tab.screenshot("run")


def test_keys_beyond_the_standard_ones_get_their_own_chart(open_page, dashboard):
    tab = open_run(open_page, dashboard.runs["script"])
    charts = tab.page.evaluate(CHARTS)
    assert [c["chart"] for c in charts] == ["loss", "key:accuracy"]
    assert raw_keys(charts) == sorted(dashboard.keys["script"])


def test_flags_appear_as_shapes_with_their_messages(open_page, dashboard):
    run_id = dashboard.runs["lion"]
    flags = dashboard.api("GET", f"/runs/{run_id}/flags").json()
    assert len(flags) >= 2
    tab = open_run(open_page, run_id)
    charts = {c["chart"]: c for c in tab.page.evaluate(CHARTS)}
    shapes = {name for c in charts.values() for name in c["shapes"]}
    assert {f"flag:{f['kind']}:{f['id']}" for f in flags} <= shapes
    drift = next(f for f in flags if f["kind"] == "grad_norm_drift")
    assert f"flag:grad_norm_drift:{drift['id']}" in charts["grad_norm"]["shapes"]
    markers = tab.page.evaluate(
        """() => { const t = document.querySelector('[data-chart="loss"]').data
            .find(t => t.meta.role === 'flags'); return {x: Array.from(t.x), text: t.text}; }"""
    )
    assert 350 in markers["x"]  # the centre of steps 300–400
    assert any("loss dropped 40% in 100 steps" in text for text in markers["text"])
    assert any("steps 300–400" in text for text in markers["text"])
    panel = tab.page.locator("#flags").inner_text()
    assert all(f["message"] in panel for f in flags)


def test_zoom_refetches_the_visible_range_at_full_detail(open_page, dashboard):
    tab = open_run(open_page, dashboard.runs["script"])
    page = tab.page
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/api/v1/series" in r.url else None)
    before = page.evaluate(TRACE, ["loss", "train_loss", "raw"])
    drag_zoom(page, "loss", 0.3, 0.45)
    wait_refetches(page, "loss", 1)
    query = parse_qs(urlsplit(requests[-1]).query)
    start, end = int(query["start"][0]), int(query["end"][0])
    assert 0 < start < end and end - start < 0.25 * 100_000
    assert int(query["max_points"][0]) > 300  # about one point per pixel of the plot
    after = page.evaluate(TRACE, ["loss", "train_loss", "raw"])
    assert start <= min(after["x"]) and max(after["x"]) <= end
    density = lambda t: len(t["x"]) / (max(t["x"]) - min(t["x"]))  # noqa: E731
    assert density(after) > 3 * density(before)  # the zoomed range at full detail
    tab.screenshot("run-zoomed")
    page.dblclick('[data-chart="loss"] .nsewdrag')  # back to the whole run
    wait_refetches(page, "loss", 2)
    assert "start" not in parse_qs(urlsplit(requests[-1]).query)


def test_smoothing_follows_the_slider_and_the_url_keeps_it(open_page, dashboard):
    tab = open_run(open_page, dashboard.runs["lion"])
    page = tab.page
    raw = np.array(page.evaluate(TRACE, ["loss", "train_loss", "raw"])["y"], dtype=float)
    assert np.isnan(raw).sum() == 1  # the NaN at step 900: a gap the average skips
    drawn = page.evaluate(TRACE, ["loss", "train_loss", "smoothed"])
    assert drawn["smoothing"] == 0.6  # the default weight
    np.testing.assert_allclose(np.array(drawn["y"], dtype=float), tensorboard_ema(raw, 0.6))
    page.locator("#smoothing").fill("0.9")
    page.wait_for_function(
        """() => document.querySelector('[data-chart="grad_norm"]').data
            .find(t => t.meta.role === 'smoothed').meta.smoothing === 0.9"""
    )
    grad = np.array(page.evaluate(TRACE, ["grad_norm", "grad_norm", "raw"])["y"], dtype=float)
    smooth = np.array(page.evaluate(TRACE, ["grad_norm", "grad_norm", "smoothed"])["y"])
    np.testing.assert_allclose(smooth, tensorboard_ema(grad, 0.9), rtol=1e-12)
    assert np.std(np.diff(smooth)) < 0.5 * np.std(np.diff(grad))  # visibly smoother
    page.check("#log-y")
    page.wait_for_function(
        """() => document.querySelector('[data-chart="loss"]')._fullLayout.yaxis.type === 'log'"""
    )
    assert "smoothing=0.9" in page.url and "log=1" in page.url
    page.reload()
    page.wait_for_function(ALL_DRAWN)
    charts = page.evaluate(CHARTS)
    assert all(c["ytype"] == "log" for c in charts)
    drawn = page.evaluate(TRACE, ["grad_norm", "grad_norm", "smoothed"])
    assert drawn["smoothing"] == 0.9  # a fresh load smooths with the URL's weight
    np.testing.assert_allclose(np.array(drawn["y"]), smooth, rtol=1e-12)


def test_nan_is_marked_at_its_step_before_and_after_a_zoom(open_page, dashboard):
    run_id = dashboard.runs["lion"]
    stored = dashboard.api(
        "GET", "/series", params={"run": run_id, "key": "train_loss", "max_points": 100_000}
    ).json()["series"][0]
    (step,) = [s for s, v in zip(stored["steps"], stored["values"], strict=True) if v == "NaN"]
    tab = open_run(open_page, run_id)
    page = tab.page
    bad = page.evaluate(TRACE, ["loss", "train_loss", "nonfinite"])
    assert (bad["x"], bad["y"], bad["text"]) == ([step], [0.03], ["NaN"])  # at the bottom edge
    assert page.evaluate(TRACE, ["loss", "eval_loss", "nonfinite"])["x"] == []
    page.evaluate(
        """(step) => Plotly.relayout(document.querySelector('[data-chart="loss"]'),
            {'xaxis.range': [step - 50, step + 50]})""",
        step,
    )
    wait_refetches(page, "loss", 1)
    raw = page.evaluate(TRACE, ["loss", "train_loss", "raw"])
    assert step - 60 <= min(raw["x"]) and max(raw["x"]) <= step + 60  # the zoom, refetched
    assert page.evaluate(TRACE, ["loss", "train_loss", "nonfinite"])["x"] == [step]


def test_wall_time_axis_shows_the_viewers_local_time(browser, dashboard):
    """A viewer in UTC+05:30 sees wall times shifted by the offset the page sends."""
    context = browser.new_context(viewport=VIEWPORT, timezone_id="Asia/Kolkata")
    try:
        sign_in_cookie(context, dashboard)
        page = context.new_page()
        errors = watch(page)
        run_id = dashboard.runs["lion"]
        page.goto(f"{dashboard.url}/runs/{run_id}?x=wall")
        page.wait_for_function(ALL_DRAWN)
        drawn = page.evaluate(TRACE, ["lr", "lr", "raw"])
        series = dashboard.api(
            "GET", "/series", params={"run": run_id, "key": "lr", "max_points": 100_000}
        ).json()["series"][0]
        walls = dict(zip(series["steps"], series["wall_time"], strict=True))
        expected = [(walls[int(step)] + 330 * 60) * 1000 for step in drawn["customdata"]]
        np.testing.assert_allclose(drawn["x"], expected)
        assert page.evaluate(CHARTS)[0]["xtype"] == "date"
        assert errors == []
    finally:
        context.close()


def test_x_axis_by_wall_or_relative_time(open_page, dashboard):
    tab = open_run(open_page, dashboard.runs["lion"])
    page = tab.page
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/api/v1/series" in r.url else None)
    page.click("button[data-mode=wall]")
    page.wait_for_function(
        """() => document.querySelector('[data-chart="loss"]')._fullLayout.xaxis.type === 'date'"""
    )
    page.wait_for_function(ALL_DRAWN)
    drag_zoom(page, "loss", 0.2, 0.6)  # a wall-clock range maps back to steps
    wait_refetches(page, "loss", 1)
    query = parse_qs(urlsplit(requests[-1]).query)
    start, end = int(query["start"][0]), int(query["end"][0])
    assert 0 < start < end < 1499 and end - start < 1000
    page.click("button[data-mode=relative]")
    page.wait_for_function(
        """() => document.querySelector('[data-chart="lr"]')._fullLayout.xaxis.title.text
            .startsWith('time since start')"""
    )
    assert "x=relative" in page.url


def test_clicking_a_flag_zooms_the_charts_to_it(open_page, dashboard):
    tab = open_run(open_page, dashboard.runs["lion"])
    page = tab.page
    page.locator("#flags li", has_text="loss dropped 40%").click()
    wait_refetches(page, "loss", 1)
    loss = next(c for c in page.evaluate(CHARTS) if c["chart"] == "loss")
    assert loss["range"][0] == pytest.approx(290) and loss["range"][1] == pytest.approx(410)


def test_a_running_run_updates_without_reload(open_page, dashboard):
    run_id = dashboard.new_run(name="live", optimizer="lion")
    dashboard.log(run_id, range(100), {"train_loss": [1.0 / (s + 1) for s in range(100)]})
    tab = open_run(open_page, run_id)
    page = tab.page
    assert max(page.evaluate(TRACE, ["loss", "train_loss", "raw"])["x"]) == 99
    dashboard.log(run_id, range(100, 300), {"train_loss": [0.01] * 200, "grad_norm": [1.0] * 200})
    page.wait_for_function(
        """() => { const gd = document.querySelector('[data-chart="loss"]');
            const t = gd.data.find(t => t.meta.role === 'raw');
            return t.x[t.x.length - 1] === 299; }"""
    )
    page.wait_for_selector('[data-chart="grad_norm"]')  # a new key brings a new chart
    assert "step 299" in page.locator("#tiles").inner_text()


def test_a_job_without_metrics_says_it_waits_for_a_worker(open_page, dashboard):
    run_id = dashboard.new_run(name="waiting", job={"steps": 50})
    tab = open_page(f"/runs/{run_id}")
    tab.page.get_by_text("No metrics yet").wait_for()
    assert "waiting for a worker" in tab.page.locator("#charts").inner_text()
    assert "Queued" in tab.page.locator("#run-alert").inner_text()
    tab.screenshot("run-queued")
