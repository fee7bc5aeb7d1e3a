"""The runs table at 10,000 runs in a real browser: the last page is reachable through the
pager and shows the oldest runs; sorting by best loss orders the runs as a direct query does;
a chosen config column shows each run's value; the whole table state survives a reload and
back/forward; the selection survives paging; a search that matches nothing says so; a filter
on config values with a sort by best loss gives what a direct query gives; a filter expression
the API refuses shows its message at the filter box."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from support.many_runs import seed_project

from lionlab_server.db import make_engine, make_sessionmaker
from lionlab_server.models import MetricKey, MetricSummary, Run
from lionlab_server.search import BadSearch, parse_filter

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N = 10_000
ROW_IDS = "() => [...document.querySelectorAll('#runs-table tbody tr')].map(r => +r.dataset.run)"
ROW_NAMES = (
    "() => [...document.querySelectorAll('#runs-table tbody .run-name')].map(a => a.textContent)"
)


@pytest.fixture(scope="module")
def many(dashboard) -> dict:
    url = f"sqlite:///{dashboard.server.data_dir / 'lionlab.db'}"
    pid = seed_project(url, N, name="many-runs", seed=0)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        runs = session.execute(
            select(Run.id, Run.config, Run.status).where(Run.project_id == pid)
        ).all()
        loss = select(MetricKey.id).where(MetricKey.name == "loss").scalar_subquery()
        best = session.execute(
            select(MetricSummary.run_id, MetricSummary.min_value)
            .join(Run, Run.id == MetricSummary.run_id)
            .where(Run.project_id == pid, MetricSummary.key_id == loss)
        ).all()
    engine.dispose()
    return {
        "pid": pid,
        "configs": {rid: config for rid, config, _ in runs},
        "succeeded": {rid for rid, _, status in runs if status == "succeeded"},
        "best": best,
    }


def wait_loaded(page) -> None:
    page.wait_for_selector("#runs[aria-busy=false] #runs-table, #runs[aria-busy=false] .empty")


def status_text(page) -> str:
    return page.locator("#page-status").inner_text()


def wait_status(page, part: str) -> None:
    """Until the pager reads `part` and the page's rows are in."""
    page.wait_for_function(
        "part => document.querySelector('#page-status')?.textContent.includes(part)", arg=part
    )
    wait_loaded(page)


def test_the_last_page_is_reachable_and_the_state_survives_reload_and_back(open_page, many):
    tab = open_page(f"/projects/{many['pid']}")
    page = tab.page
    wait_loaded(page)
    assert status_text(page) == "Page 1 of 100 · rows 1–100 of 10,000"
    assert page.evaluate(ROW_NAMES)[:2] == ["run-0-09999", "run-0-09998"]  # newest first
    first = page.evaluate(ROW_IDS)
    page.check(f"tr[data-run='{first[0]}'] input[type=checkbox]")
    page.click("#page-last")
    wait_status(page, "Page 100 ")
    wait_loaded(page)
    assert status_text(page) == "Page 100 of 100 · rows 9,901–10,000 of 10,000"
    assert page.evaluate(ROW_NAMES) == [f"run-0-{i:05d}" for i in range(99, -1, -1)]
    assert "page=100" in page.url
    assert page.is_disabled("#page-next") and page.is_disabled("#page-last")
    last = page.evaluate(ROW_IDS)
    page.check(f"tr[data-run='{last[-1]}'] input[type=checkbox]")  # selection spans pages
    assert page.inner_text("#compare-selected") == "Compare selected (2)"
    assert sorted(
        page.get_attribute("#compare-selected", "href").split("=")[1].split(",")
    ) == sorted(str(i) for i in (first[0], last[-1]))
    page.select_option("#page-size", "200")
    wait_status(page, "of 50 ")
    assert "size=200" in page.url and "page=50" in page.url
    page.reload()
    wait_loaded(page)
    assert status_text(page) == "Page 50 of 50 · rows 9,801–10,000 of 10,000"
    page.go_back()  # to 100 a page, page 100
    wait_status(page, "Page 100 ")
    page.go_back()  # to page 1
    wait_status(page, "Page 1 ")
    wait_loaded(page)
    assert page.evaluate(ROW_IDS) == first
    page.click("#clear-selection")
    assert page.inner_text("#compare-selected") == "Compare selected"
    tab.screenshot("runs-10k")


def test_sorting_by_best_loss_matches_a_direct_query(open_page, many):
    tab = open_page(f"/projects/{many['pid']}?status=succeeded")
    page = tab.page
    wait_loaded(page)
    assert not page.locator("th[data-sort=progress]").get_attribute("class").count("sortable")
    page.click("th[data-sort=best_loss]")  # descending first
    page.wait_for_url(re.compile(r"sort=best_loss"))
    wait_loaded(page)
    # every seeded run logged `loss`, each with a finite min: no NaN or missing ones to rank
    ranked = [(v, rid) for rid, v in many["best"] if rid in many["succeeded"]]
    descending = [rid for _, rid in sorted(ranked, key=lambda t: (-t[0], -t[1]))]
    assert page.evaluate(ROW_IDS) == descending[:100]
    page.click("th[data-sort=best_loss]")
    page.wait_for_url(re.compile(r"dir=asc"))
    wait_loaded(page)
    ascending = [rid for _, rid in sorted(ranked)]
    assert page.evaluate(ROW_IDS) == ascending[:100]
    href = page.get_attribute("#export-runs", "href")
    assert "sort=metric.loss.min" in href and "status=succeeded" in href
    page.click("#page-last")
    pages = -(-len(ascending) // 100)
    wait_status(page, f"Page {pages} of {pages} ")
    assert page.evaluate(ROW_IDS) == ascending[(pages - 1) * 100 :]


def test_a_chosen_config_column_shows_each_runs_value_and_survives_reload(open_page, many):
    tab = open_page(f"/projects/{many['pid']}?q=run-0-000")  # the 100 oldest runs
    page = tab.page
    wait_loaded(page)
    page.click("#column-chooser-label")
    page.locator("[data-column='param:weight_decay']").wait_for()
    page.fill("#column-search", "weight")
    page.check("[data-column='param:weight_decay']")
    page.wait_for_selector("th[data-sort='param:weight_decay']")
    page.fill("#column-search", "eval")
    page.check("[data-column='metric:eval_loss.min']")
    page.wait_for_selector("th[data-sort='metric:eval_loss.min'].sortable")
    wait_loaded(page)
    assert "col=param%3Aweight_decay" in page.url and "col=metric%3Aeval_loss.min" in page.url
    cells = page.evaluate(
        """() => [...document.querySelectorAll('#runs-table tbody tr')].map(r => [+r.dataset.run,
        r.querySelectorAll('td')[[...document.querySelectorAll('#runs-table th')].findIndex(
        th => th.dataset.sort === 'param:weight_decay')].textContent])"""
    )
    assert len(cells) == 100
    for rid, text in cells:
        assert float(text) == many["configs"][rid]["weight_decay"], (rid, text)
    page.reload()
    wait_loaded(page)
    assert page.locator("th[data-sort='param:weight_decay']").inner_text().strip() == "weight_decay"
    assert page.input_value("#filter-text") == "run-0-000"
    page.fill("#filter-text", "no such run")
    page.get_by_text("No runs match these filters").wait_for()
    assert page.locator("#runs-pager").is_hidden()


def test_a_filter_on_a_config_value_sorted_by_best_loss_matches_a_direct_query(open_page, many):
    tab = open_page(f"/projects/{many['pid']}")
    page = tab.page
    wait_loaded(page)
    page.fill("#filter-expr", "params.weight_decay = '0.1' and params.lr < 0.001")
    page.press("#filter-expr", "Enter")
    page.wait_for_url(re.compile(r"filter=params.weight_decay"))
    wait_loaded(page)
    page.click("th[data-sort=best_loss]")
    page.click("th[data-sort=best_loss]")  # descending, then ascending
    page.wait_for_url(re.compile(r"dir=asc"))
    wait_loaded(page)
    best = dict(many["best"])
    chosen = [
        rid
        for rid, config in many["configs"].items()
        if config["weight_decay"] == 0.1 and config["lr"] < 0.001
    ]
    ascending = sorted(chosen, key=lambda rid: (best[rid], rid))
    assert 100 < len(ascending) < N
    assert status_text(page).endswith(f"of {len(ascending):,}")
    assert page.evaluate(ROW_IDS) == ascending[:100]
    href = page.get_attribute("#export-runs", "href")
    assert "filter=params.weight_decay" in href and "sort=metric.loss.min" in href


def test_a_refused_filter_shows_the_apis_message_at_the_box(open_page, many):
    """The server's own 422 for a filter its parser refuses, shown under the box."""
    tab = open_page(f"/projects/{many['pid']}")
    tab.expect_refusals(422)
    page = tab.page
    wait_loaded(page)
    try:
        parse_filter("params.lr < and")
    except BadSearch as exc:
        message = f"filter: {exc}"
    page.fill("#filter-expr", "params.lr < and")
    page.press("#filter-expr", "Enter")
    error = page.locator(".field[data-path=filter] .error")
    error.wait_for()
    assert error.inner_text() == message
    assert "filter=params.lr" in page.url
    page.get_by_text("These filters were refused").wait_for()
    page.click("text=Clear filters")
    wait_loaded(page)
    assert error.is_hidden() and "filter=" not in page.url
    assert status_text(page).endswith("of 10,000")
