"""Saved comparisons: saved from the compare page with its view (runs, metrics, x axis,
smoothing, log scale), listed on the project's Comparisons tab, restored when opened."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHIPS = (
    "() => [...document.querySelectorAll('#selection .run-chip')].map(c => Number(c.dataset.run))"
)
CHARTS = "els => els.map(e => e.dataset.chart)"
NAME = "<script>alert(1)</script> lion vs adamw"


def set_smoothing(page, value: float) -> None:
    page.eval_on_selector(
        "#smoothing",
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }",
        value,
    )


def test_a_saved_comparison_is_listed_and_restores_the_view(open_page, dashboard):
    lion, adamw = dashboard.runs["lion"], dashboard.runs["adamw"]
    pid = dashboard.project["id"]
    tab = open_page(f"/compare?runs={lion},{adamw}&metric=train_loss&metric=eval_loss")
    page = tab.page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.wait_for_selector("#charts[data-drawn]")
    page.click("#chart-controls [data-mode='wall']")
    set_smoothing(page, 0.9)
    page.check("#log-y")

    page.click("#save-open")
    page.fill("#save-name", NAME)
    page.fill("#save-description", "Lion reaches 0.5 first.")
    page.click("#save-submit")
    page.wait_for_url("**comparison=*")
    assert page.text_content("#compare-title") == NAME

    page.goto(f"{dashboard.url}/projects/{pid}/comparisons")
    row = page.locator("#comparisons-table tbody tr", has_text="lion vs adamw")
    row.wait_for()
    assert row.locator("a.run-name").text_content() == NAME  # text, not markup
    assert "Lion reaches 0.5 first." in row.text_content()
    cells = row.locator("td").all_text_contents()
    assert cells[1] == "2" and cells[2] == "local admin"  # the token the browser signed in with
    saved_id = int(row.get_attribute("data-comparison"))

    page.goto(f"{dashboard.url}/runs/{lion}")  # leave, then come back by the tab's link
    page.goto(f"{dashboard.url}/projects/{pid}/comparisons")
    page.click(f"#comparisons-table tr[data-comparison='{saved_id}'] a.run-name")
    page.wait_for_selector("#charts[data-drawn]")
    assert page.evaluate(CHIPS) == [lion, adamw]
    assert page.eval_on_selector_all("#charts .chart", CHARTS) == [
        "key:train_loss",
        "key:eval_loss",
    ]
    assert page.get_attribute("#chart-controls [data-mode='wall']", "class") == "on"
    assert page.input_value("#smoothing") == "0.9"
    assert page.is_checked("#log-y")
    assert page.text_content("#compare-title") == NAME
    assert dialogs == []
    tab.screenshot("compare-saved")

    r = dashboard.api("DELETE", f"/comparisons/{saved_id}")
    assert r.status_code == 204
