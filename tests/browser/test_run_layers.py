"""Per-layer statistics in a real browser: the run page's Layers card draws nested percentile
bands across layers and a layers x steps heatmap from the server's distribution view (a
planted spike in one layer shows where it was logged), refetches on a change of statistic and
on zoom, and explains itself on a run without layer statistics; Compare overlays each run's
median band."""

from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAYERS = [f"blocks.{i // 2}.{'attn.qkv' if i % 2 == 0 else 'mlp.fc'}.weight" for i in range(20)]
STEPS = np.arange(0, 6000, 2)  # 3,000 logged steps
LOSS_STEPS = list(range(0, 6000, 20))
SPIKE_LAYER, SPIKE_STEP = 13, 4200
ZERO_LAYER, ZERO_STEPS = 2, (1000, 1400)
BANDS = """() => { const gd = document.querySelector('#layers-bands');
    return {traces: gd.data.map(t => ({role: t.meta.role, band: t.meta.band || null,
        name: t.name, legend: t.showlegend !== false, fill: t.fill || null,
        x: Array.from(t.x), y: Array.from(t.y, v => v === null ? null : v)})),
        ytype: gd._fullLayout.yaxis.type, title: gd._fullLayout.title.text,
        xtitle: gd._fullLayout.xaxis.title.text, ytitle: gd._fullLayout.yaxis.title.text,
        legend: gd._fullLayout.showlegend}; }"""
HEAT = """() => { const gd = document.querySelector('#layers-heat'); const t = gd.data[0];
    return {type: t.type, x: Array.from(t.x), y: Array.from(t.y), z: t.z, text: t.text,
        zmin: t.zmin, ticks: gd._fullLayout.yaxis._vals.map(v => v.text),
        title: gd._fullLayout.title.text}; }"""
FETCHES = "(id) => Number(document.getElementById(id).dataset.fetches || 0)"


def layer_values(steps, seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    """grad_norm and update_ratio of 20 layers: each layer its own scale, a little noise."""
    rng = np.random.default_rng(seed)
    per_layer = scale * np.exp(np.linspace(-3, 1, len(LAYERS)))
    noise = np.exp(0.2 * rng.standard_normal((len(steps), len(LAYERS))))
    grad = per_layer * noise
    return {"grad_norm": grad, "update_ratio": 1e-3 * noise / (1 + np.arange(len(LAYERS)))}


def post_layers(dashboard, run_id: int, steps, stats: dict[str, np.ndarray]) -> None:
    for lo in range(0, len(steps), 1000):
        body = {
            "names": LAYERS,
            "steps": [int(s) for s in steps[lo : lo + 1000]],
            "stats": {k: v[lo : lo + 1000].tolist() for k, v in stats.items()},
        }
        r = dashboard.api("POST", f"/runs/{run_id}/layers", content=orjson.dumps(body))
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def layered_stats() -> dict[str, np.ndarray]:
    """20 layers x 3,000 steps; layer 13 spikes 1000x at step 4,200, layer 2 is frozen (logs
    0) from step 1,000 to 1,400."""
    stats = layer_values(STEPS, seed=5)
    stats["grad_norm"][np.searchsorted(STEPS, SPIKE_STEP), SPIKE_LAYER] *= 1000
    frozen = slice(*np.searchsorted(STEPS, [ZERO_STEPS[0], ZERO_STEPS[1] + 1]))
    stats["grad_norm"][frozen, ZERO_LAYER] = 0.0
    return stats


@pytest.fixture(scope="module")
def layered(dashboard, layered_stats) -> int:
    run_id = dashboard.new_run(name="lion-layers", optimizer="lion", config={"lr": 1e-4})
    dashboard.log(run_id, LOSS_STEPS, {"train_loss": [1 / (1 + s) for s in LOSS_STEPS]})
    post_layers(dashboard, run_id, STEPS, layered_stats)
    return run_id


@pytest.fixture(scope="module")
def layered_adamw(dashboard) -> int:
    run_id = dashboard.new_run(name="adamw-layers", optimizer="adamw", config={"lr": 1e-3})
    dashboard.log(run_id, LOSS_STEPS, {"train_loss": [2 / (1 + s) for s in LOSS_STEPS]})
    post_layers(dashboard, run_id, STEPS, {"grad_norm": layer_values(STEPS, 6, 30)["grad_norm"]})
    return run_id


def layer_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/layers/" in r.url else None)
    return seen


def open_layers(tab, dashboard, run_id: int) -> list[str]:
    """Open the run page and wait for its Layers card; returns the view requests seen."""
    requests = layer_requests(tab.page)
    tab.page.goto(f"{dashboard.url}/runs/{run_id}")
    tab.page.wait_for_selector("#layers-panel[data-state='ready'][data-drawn]")
    return requests


def drag_zoom(page, selector: str, left: float, right: float, rows=(0.5, 0.5)) -> None:
    """Drag across a plot area from `left` to `right` (fractions of its width); `rows`: from
    and to heights (fractions), equal for an x-only zoom."""
    drag = page.locator(f"{selector} .nsewdrag").first
    drag.scroll_into_view_if_needed()
    area = drag.bounding_box()
    top, bottom = (area["y"] + area["height"] * r for r in rows)
    page.mouse.move(area["x"] + area["width"] * left, top)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * right, bottom + 2, steps=8)
    page.mouse.up()


def wait_fetches(page, plot_id: str, count: int) -> None:
    page.wait_for_function(f"([id, n]) => ({FETCHES})(id) >= n", arg=[plot_id, count])
    page.wait_for_selector("#layers-panel[data-state='ready']")


def test_layers_card_draws_bands_and_a_heatmap_with_the_spike_in_place(
    tab, dashboard, layered, layered_stats
):
    requests = open_layers(tab, dashboard, layered)
    page = tab.page
    assert urlsplit(requests[0]).path.endswith(f"/runs/{layered}/layers/grad_norm")
    assert page.inner_text("#layers-meta") == "20 layers"
    buttons = page.eval_on_selector_all(
        "#layers-stat button", "bs => bs.map(b => [b.dataset.stat, b.disabled, b.className])"
    )
    assert buttons == [
        ["grad_norm", False, "on"],
        ["update_ratio", False, ""],
        ["update_rms", True, ""],  # not logged
        ["param_norm", True, ""],
    ]
    bands = page.evaluate(BANDS)
    assert bands["ytype"] == "log" and bands["legend"]
    assert bands["title"] == "Grad norm across layers" and bands["xtitle"] == "step"
    assert bands["ytitle"] == "gradient norm"
    roles = [(t["role"], t["band"]) for t in bands["traces"]]
    assert roles == [
        ("band-lo", "0-100"),
        ("band-hi", "0-100"),
        ("band-lo", "7-93"),
        ("band-hi", "7-93"),
        ("band-lo", "16-84"),
        ("band-hi", "16-84"),
        ("median", None),
    ]
    legend = [t["name"] for t in bands["traces"] if t["legend"]]
    assert legend == ["min–max", "7–93%", "16–84%", "median"]
    assert all(t["fill"] == "tonexty" for t in bands["traces"] if t["role"] == "band-hi")
    # the bands nest: min <= p7 <= p16 <= median <= p84 <= p93 <= max in every column
    ys = np.array([t["y"] for t in bands["traces"]], dtype=float)
    order = ys[[0, 2, 4, 6, 5, 3, 1]]
    assert np.all(np.diff(order, axis=0) >= -1e-9 * np.abs(order[1:]))
    grad = layered_stats["grad_norm"]
    assert ys.max() == pytest.approx(grad.max(), rel=1e-6)  # the spike: an extreme kept
    assert (ys > 0).all() and ys.min() < grad[grad > 0].min()  # the 0: at the axis' bottom
    x = np.array(bands["traces"][0]["x"])
    assert x.min() >= 0 and x.max() <= STEPS[-1] and 100 <= len(x) <= 1000

    heat = page.evaluate(HEAT)
    assert heat["type"] == "heatmap" and heat["y"] == LAYERS
    assert set(heat["ticks"]) <= set(LAYERS) and len(heat["ticks"]) >= 10
    assert heat["title"] == "Grad norm per layer"
    z = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]], dtype=float)
    assert z.shape == (len(LAYERS), len(heat["x"]))
    row, col = np.unravel_index(np.nanargmax(z), z.shape)
    assert row == SPIKE_LAYER
    width = (STEPS[-1] - STEPS[0]) / len(heat["x"])
    assert abs(heat["x"][col] - SPIKE_STEP) <= width
    # the frozen layer's 0s take the lowest colour and say "0" in their hover
    inside = [c for c, x in enumerate(heat["x"]) if 1100 <= x <= 1300]
    assert inside and all(heat["text"][ZERO_LAYER][c].endswith("gradient norm 0") for c in inside)
    assert all(z[ZERO_LAYER, c] == heat["zmin"] for c in inside)
    tab.screenshot("run-layers")


def test_switching_the_statistic_refetches_its_view(tab, dashboard, layered):
    requests = open_layers(tab, dashboard, layered)
    page = tab.page
    before = page.evaluate(HEAT)["z"]
    page.click("#layers-stat button[data-stat='update_ratio']")
    page.wait_for_function(
        "() => document.querySelector('#layers-heat').dataset.stat === 'update_ratio'"
    )
    wait_fetches(page, "layers-heat", 2)
    assert urlsplit(requests[-1]).path.endswith(f"/runs/{layered}/layers/update_ratio")
    assert page.get_attribute("#layers-stat button.on", "data-stat") == "update_ratio"
    bands = page.evaluate(BANDS)
    assert bands["title"] == "Update ratio across layers"
    after = page.evaluate(HEAT)["z"]
    assert np.nanmax(np.array(after, dtype=float)) < -2  # log10 of ratios around 1e-3
    assert after != before


def test_zoom_refetches_the_range_at_full_detail_and_double_click_resets(tab, dashboard, layered):
    requests = open_layers(tab, dashboard, layered)
    page = tab.page
    drag_zoom(page, "#layers-bands", 0.65, 0.75)
    wait_fetches(page, "layers-bands", 2)
    query = parse_qs(urlsplit(requests[-1]).query)
    start, end = int(query["start"][0]), int(query["end"][0])
    assert 0 < start < SPIKE_STEP < end and end - start < 0.2 * STEPS[-1]
    bands = page.evaluate(BANDS)
    x = np.array(bands["traces"][0]["x"])
    assert start <= x.min() and x.max() <= end
    assert np.allclose(x, np.round(x)) and np.all(x % 2 == 0)  # every logged step, unbucketed
    heat = page.evaluate(HEAT)
    assert start <= min(heat["x"]) and max(heat["x"]) <= end
    z = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]], dtype=float)
    row, col = np.unravel_index(np.nanargmax(z), z.shape)
    assert row == SPIKE_LAYER and abs(heat["x"][col] - SPIKE_STEP) <= 2
    tab.screenshot("run-layers-zoomed")
    # a box zoom on the heatmap refetches its steps for both charts and keeps its layers
    drag_zoom(page, "#layers-heat", 0.4, 0.6, rows=(0.25, 0.75))
    wait_fetches(page, "layers-bands", 3)
    query = parse_qs(urlsplit(requests[-1]).query)
    start2, end2 = int(query["start"][0]), int(query["end"][0])
    assert start <= start2 < end2 <= end
    rows = page.evaluate("() => document.querySelector('#layers-heat')._fullLayout.yaxis.range")
    assert 5 < abs(rows[1] - rows[0]) < 15  # about the middle half of the 20 layers
    page.dblclick("#layers-bands .nsewdrag")
    wait_fetches(page, "layers-bands", 4)
    assert "start" not in parse_qs(urlsplit(requests[-1]).query)
    x = page.evaluate(BANDS)["traces"][0]["x"]
    assert min(x) < 100 and max(x) > STEPS[-1] - 100


def test_a_run_without_layer_statistics_explains_how_to_log_them(open_page, dashboard):
    run_id = dashboard.new_run(name="no-layers", optimizer="adamw")
    dashboard.log(run_id, range(20), {"train_loss": [1 / (s + 1) for s in range(20)]})
    tab = open_page(f"/runs/{run_id}")
    page = tab.page
    page.wait_for_selector("#layers-panel[data-state='empty']")
    assert "lionlab.watch(model)" in page.inner_text("#layers-empty")
    assert page.locator("#layers-bands, #layers-heat, #layers-error").count() == 0
    assert page.inner_text("#layers-meta") == ""


def test_compare_overlays_each_runs_median_band(open_page, dashboard, layered, layered_adamw):
    plain = dashboard.runs["lion"]  # metrics only
    tab = open_page(f"/compare?runs={layered},{layered_adamw},{plain}")
    page = tab.page
    page.wait_for_selector("#compare-layers[data-state='ready']")
    traces = page.evaluate(
        """() => document.querySelector('#compare-layers-chart').data.map(t => ({
            role: t.meta.role, run: t.meta.run, color: t.line.color, name: t.name,
            fill: t.fill || null, n: t.x.length,
            y: Array.from(t.y, v => v === null ? null : v)}))"""
    )
    assert [(t["role"], t["run"]) for t in traces] == [
        ("band-lo", layered),
        ("band-hi", layered),
        ("median", layered),
        ("band-lo", layered_adamw),
        ("band-hi", layered_adamw),
        ("median", layered_adamw),
    ]
    medians = [t for t in traces if t["role"] == "median"]
    assert medians[0]["color"] != medians[1]["color"]
    assert medians[0]["color"] == "#e8590c" and medians[1]["color"] == "#1c7ed6"
    # the AdamW run's layers are 30x larger: its median sits above
    m0, m1 = (np.nanmedian(np.array(t["y"], dtype=float)) for t in medians)
    assert m1 / m0 == pytest.approx(30, rel=0.3)
    assert "lion-1e-4" in page.inner_text("#compare-layers-skipped")
    page.click("#compare-layers-stat button[data-stat='update_ratio']")
    page.wait_for_function(
        "() => document.querySelector('#compare-layers').dataset.stat === 'update_ratio'"
    )
    page.wait_for_selector("#compare-layers[data-state='ready']")
    runs = page.evaluate(
        "() => [...new Set(document.querySelector('#compare-layers-chart').data"
        ".map(t => t.meta.run))]"
    )
    assert runs == [layered]  # the AdamW run logged no update ratio: left out
    assert "adamw-layers" in page.inner_text("#compare-layers-skipped")
    tab.screenshot("compare-layers")


def test_compare_without_layer_statistics_has_no_layers_card(open_page, dashboard):
    tab = open_page(f"/compare?runs={dashboard.runs['lion']},{dashboard.runs['adamw']}")
    page = tab.page
    page.wait_for_selector("#compare-layers[data-state='empty']", state="attached")
    assert page.is_hidden("#compare-layers")


def test_a_long_layer_name_keeps_its_end_on_the_axis_and_its_whole_in_the_hover(tab, dashboard):
    long = "model.encoder.transformer_stack." + "very_deeply_nested_module." * 4 + "fc.weight"
    names = [long, "head.weight", "embed.weight"]
    run_id = dashboard.new_run(name="long-names", optimizer="lion")
    steps = list(range(0, 200, 10))
    body = {"names": names, "steps": steps, "stats": {"grad_norm": [[1.0, 2.0, 3.0]] * 20}}
    r = dashboard.api("POST", f"/runs/{run_id}/layers", content=orjson.dumps(body))
    assert r.status_code == 200, r.text
    open_layers(tab, dashboard, run_id)
    heat = tab.page.evaluate(HEAT)
    assert heat["y"] == names  # the hover's %{y}: the whole name
    first = heat["ticks"][0]
    assert first.startswith("…") and long.endswith(first[1:]) and len(first) < len(long)
    assert heat["ticks"][1:] == names[1:]
    # the elided name fits the left margin: its tick label starts inside the chart's box
    inside = tab.page.evaluate(
        """() => { const box = document.querySelector('#layers-heat').getBoundingClientRect();
        return Array.from(document.querySelectorAll('#layers-heat .ytick text'))
            .every(t => t.getBoundingClientRect().left >= box.left - 1); }"""
    )
    assert inside
