"""Compare: runs overlaid per metric, coloured by optimizer, legends and a table of the
parameters that differ; the URL holds the selection."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHIPS = (
    "() => [...document.querySelectorAll('#selection .run-chip')].map(c => Number(c.dataset.run))"
)
SMOOTHED = """(chart) => document.querySelector(`[data-chart="${chart}"]`).data
    .filter(t => t.meta.role === 'smoothed').map(t => [t.name, t.line.color, t.meta.run])"""


def open_compare(open_page, ids):
    tab = open_page(f"/compare?runs={','.join(map(str, ids))}")
    tab.page.wait_for_selector("#charts[data-drawn]")
    return tab


def test_runs_overlaid_with_differing_parameters(open_page, dashboard):
    lion, adamw = dashboard.runs["lion"], dashboard.runs["adamw"]
    tab = open_compare(open_page, [lion, adamw])
    page = tab.page
    assert page.evaluate(CHIPS) == [lion, adamw]
    params = page.eval_on_selector_all(
        "#params th[data-param]", "els => els.map(e => e.dataset.param)"
    )
    assert params[:4] == ["optimizer", "lr", "weight_decay", "betas"]
    assert "steps" not in params and "batch_size" not in params  # equal: hidden
    traces = page.evaluate(SMOOTHED, "key:train_loss")
    assert [(name, run) for name, _, run in traces] == [
        ("lion lr=1e-4 wd=0.1", lion),
        ("adamw lr=0.001 wd=0.01", adamw),
    ]
    assert [color for _, color, _ in traces] == ["#e8590c", "#1c7ed6"]  # lion orange, AdamW blue
    charts = page.eval_on_selector_all("#charts .chart", "els => els.map(e => e.dataset.chart)")
    assert charts[:2] == ["key:train_loss", "key:eval_loss"]
    tab.screenshot("compare")


def test_the_url_restores_the_selection_and_follows_edits(open_page, dashboard):
    ids = [dashboard.runs["adamw"], dashboard.runs["script"], dashboard.runs["lion"]]
    tab = open_compare(open_page, ids)
    page = tab.page
    assert page.evaluate(CHIPS) == ids
    page.click(f".run-chip[data-run='{dashboard.runs['script']}'] button")
    page.wait_for_function(f"() => ({CHIPS})().length === 2")
    assert page.url.endswith(f"runs={ids[0]}%2C{ids[2]}") or page.url.endswith(
        f"runs={ids[0]},{ids[2]}"
    )
    page.reload()
    page.wait_for_selector("#charts[data-drawn]")
    assert page.evaluate(CHIPS) == [ids[0], ids[2]]
    page.select_option("#picker-project", str(dashboard.project["id"]))
    page.wait_for_selector(
        f"#picker-run option[value='{dashboard.runs['script']}']", state="attached"
    )
    page.select_option("#picker-run", str(dashboard.runs["script"]))
    page.click("#picker-add")
    page.wait_for_function(f"() => ({CHIPS})().length === 3")
    assert page.evaluate(CHIPS) == [ids[0], ids[2], ids[1]]


def test_nothing_selected_explains_how_to_pick(open_page):
    tab = open_page("/compare")
    tab.page.get_by_text("Pick runs to compare").wait_for()
    tab.screenshot("compare-empty")
