"""The run page's Artifacts card in a real browser: a run's logged files are listed with
their sizes; a text file opens as text (markup in it stays text), an image as a decoded
<img>; other files are downloads. A share link's viewer previews and downloads them too,
with the secret in a header only."""

from pathlib import Path

import httpx
import pytest
from support.png import png

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SUMMARY = "lion beat adamw by 4%\n<b>markup stays text</b>\n" + "step,loss\n" * 3
IMAGE = png(96, 64, lambda x, y: (232, 89 + y, 12 + 2 * x))  # an orange gradient
REPORT = b"<html><script>document.title = 'ran'</script></html>"
EMPTY = "No artifacts. Log files with mlflow.log_artifact(...) (see docs/integrations.md)."
NAMES = (
    "() => [...document.querySelectorAll('#artifacts li .artifact-name')].map(a => a.textContent)"
)
IMAGE_DRAWN = """() => { const i = document.querySelector('#artifact-image');
    return i !== null && i.complete && i.naturalWidth > 0; }"""


def human(size: int) -> str:
    """A size as the card shows one over 1 KB (one decimal below 10 KB)."""
    assert 1024 <= size < 1024**2
    kb = size / 1024
    return f"{kb:.1f} KB" if kb < 10 else f"{int(kb + 0.5)} KB"


def upload(dashboard, run_id: int, path: str, data: bytes) -> None:
    project = dashboard.project["id"]
    url = f"{dashboard.url}/api/2.0/mlflow-artifacts/artifacts/{project}/{run_id}/artifacts/{path}"
    r = httpx.put(url, content=data, headers=dashboard.server.headers, timeout=30)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def logged(dashboard) -> int:
    run_id = dashboard.new_run(name="with-artifacts", optimizer="lion", config={"lr": 1e-4})
    dashboard.log(run_id, range(10), {"train_loss": [1.0 / (s + 1) for s in range(10)]})
    upload(dashboard, run_id, "notes/summary.txt", SUMMARY.encode())
    upload(dashboard, run_id, "plots/loss.png", IMAGE)
    upload(dashboard, run_id, "report.html", REPORT)
    return run_id


def check_previews(page) -> None:
    page.wait_for_selector("#artifacts li")
    assert page.evaluate(NAMES) == ["notes/summary.txt", "plots/loss.png", "report.html"]
    sizes = page.locator("#artifacts li .artifact-size").all_inner_texts()
    assert sizes == [f"{len(SUMMARY.encode())} B", human(len(IMAGE)), f"{len(REPORT)} B"]
    page.click("#artifacts li[data-path='notes/summary.txt'] .artifact-name")
    page.wait_for_selector("#artifact-text")
    assert page.text_content("#artifact-text") == SUMMARY
    assert page.locator("#artifact-text b").count() == 0  # markup in the file is text
    page.click("#artifacts li[data-path='plots/loss.png'] .artifact-name")
    page.wait_for_function(IMAGE_DRAWN)
    size = page.eval_on_selector("#artifact-image", "i => [i.naturalWidth, i.naturalHeight]")
    assert size == [96, 64]
    assert page.locator("#artifact-text").count() == 0  # one preview at a time
    assert page.title() != "ran"


def test_files_are_listed_and_text_and_images_preview_in_the_card(open_page, dashboard, logged):
    tab = open_page(f"/runs/{logged}")
    page = tab.page
    check_previews(page)
    assert page.is_visible("#artifact-preview")
    html = page.locator("#artifacts li[data-path='report.html'] .artifact-name")
    assert html.get_attribute("download") == "report.html"  # no preview: a download
    assert "download=1" in html.get_attribute("href")
    with page.expect_download() as download:
        html.click()
    assert Path(download.value.path()).read_bytes() == REPORT
    tab.screenshot("run-artifacts")
    page.click("#artifact-close")
    assert page.is_hidden("#artifact-preview")
    assert page.locator("#artifacts li.selected").count() == 0


def test_a_run_without_files_says_how_to_log_them(open_page, dashboard):
    tab = open_page(f"/runs/{dashboard.runs['adamw']}")
    tab.page.wait_for_selector("#artifacts-empty")
    assert tab.page.text_content("#artifacts-empty") == EMPTY


def test_a_share_link_previews_and_downloads_with_the_secret_in_a_header(
    anonymous, dashboard, logged
):
    created = dashboard.api("POST", "/shares", json={"kind": "run", "object_id": logged})
    assert created.status_code == 201, created.text
    secret = created.json()["url"].removeprefix("/share/")
    page = anonymous.page
    addresses = []
    page.on("request", lambda r: addresses.append(r.url) if "/artifacts" in r.url else None)
    page.goto(dashboard.url + created.json()["url"])
    check_previews(page)
    assert page.locator("#artifacts a[href*='/artifacts/']").count() == 0  # no bare links
    with page.expect_download() as download:
        page.click("#artifacts li[data-path='notes/summary.txt'] .artifact-download")
    assert Path(download.value.path()).read_text() == SUMMARY
    assert download.value.suggested_filename == "summary.txt"
    assert addresses and not any(secret in a for a in addresses)
    assert page.context.cookies() == []
    assert anonymous.errors == [], anonymous.errors
    anonymous.screenshot("share-run-artifacts")
