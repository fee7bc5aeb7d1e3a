"""The dashboard's exports in a real browser: the run page's Export CSV and Export Parquet
download every logged point (a share link's viewer too, with the secret in a header only);
the runs page's Export CSV carries the table's filters; charts offer PNG and SVG images."""

import csv
import io
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SENT = [2.0, 1.5, "NaN", "Infinity", 0.1 + 0.2, "-Infinity", 1e-300, 1 / 3]  # as JSON allows
LOSS = [float(v) for v in SENT]


@pytest.fixture(scope="module")
def logged(dashboard) -> int:
    run_id = dashboard.new_run(name="to-export", optimizer="lion", config={"lr": 1e-4})
    dashboard.log(run_id, range(len(LOSS)), {"loss": SENT, "lr": [1e-4] * len(LOSS)})
    return run_id


def _same(got: float, want: float) -> bool:
    return (math.isnan(got) and math.isnan(want)) or got == want


def _check_rows(rows: list[tuple[str, int, float]]) -> None:
    want = [("loss", s, v) for s, v in enumerate(LOSS)] + [
        ("lr", s, 1e-4) for s in range(len(LOSS))
    ]
    assert [(k, s) for k, s, _ in rows] == [(k, s) for k, s, _ in want]
    assert all(_same(v, w) for (_, _, v), (_, _, w) in zip(rows, want, strict=True))


def _csv(path: Path) -> list[tuple[str, int, float]]:
    reader = csv.DictReader(io.StringIO(path.read_text(), newline=""))
    return [(r["key"], int(r["step"]), float(r["value"])) for r in reader]


def test_the_run_page_exports_every_point_as_csv_and_parquet(open_page, logged):
    tab = open_page(f"/runs/{logged}")
    page = tab.page
    page.wait_for_selector("#charts .js-plotly-plot")
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename == f"run-{logged}-metrics.csv"
    _check_rows(_csv(Path(download.value.path())))
    with page.expect_download() as download:
        page.click("#export-parquet")
    assert download.value.suggested_filename == f"run-{logged}-metrics.parquet"
    table = pq.read_table(pa.BufferReader(Path(download.value.path()).read_bytes()))
    columns = [table.column(c).to_pylist() for c in ("key", "step", "value")]
    _check_rows(list(zip(*columns, strict=True)))
    # the charts' modebar: plotly's PNG download and the SVG one beside it
    page.hover("#charts .js-plotly-plot")
    assert page.locator(".modebar-btn[data-title='Download plot as a PNG']").count() > 0
    assert page.locator(".modebar-btn[data-title='Download plot as an SVG']").count() > 0
    with page.expect_download() as download:
        page.locator(".modebar-btn[data-title='Download plot as an SVG']").first.click()
    assert download.value.suggested_filename.endswith(".svg")
    assert "<svg" in Path(download.value.path()).read_text()[:500]
    tab.screenshot("run-export")


def test_a_share_link_exports_with_the_secret_in_a_header(anonymous, dashboard, logged):
    created = dashboard.api("POST", "/shares", json={"kind": "run", "object_id": logged})
    assert created.status_code == 201, created.text
    secret = created.json()["url"].removeprefix("/share/")
    page = anonymous.page
    addresses = []
    page.on("request", lambda r: addresses.append(r.url) if "/export" in r.url else None)
    page.goto(dashboard.url + created.json()["url"])
    page.wait_for_selector("#charts .js-plotly-plot")
    with page.expect_download() as download:
        page.click("#export-csv")
    _check_rows(_csv(Path(download.value.path())))
    assert addresses and not any(secret in a for a in addresses)
    assert anonymous.errors == [], anonymous.errors


def test_the_runs_page_export_carries_the_filters(open_page, dashboard, logged):
    tab = open_page(f"/projects/{dashboard.project['id']}?optimizer=lion&tag=sweep&status=running")
    page = tab.page
    page.wait_for_selector("#runs-table")
    href = page.get_attribute("#export-runs", "href")
    for part in ("format=csv", "optimizer=lion", "tag=sweep", "status=running"):
        assert part in href, href
    with page.expect_download() as download:
        page.click("#export-runs")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(), newline="")))
    shown = page.eval_on_selector_all("#runs-table tbody tr", "rs => rs.map(r => r.dataset.run)")
    assert sorted(int(r["id"]) for r in rows) == sorted(int(i) for i in shown)
    assert all(r["optimizer"] == "lion" and "sweep" in r["tags"] for r in rows)
