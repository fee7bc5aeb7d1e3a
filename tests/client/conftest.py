"""A real server process per test, and the SDK pointed at it through the environment."""

import pytest
from support.live import start_server


@pytest.fixture(autouse=True)
def spool_dir(tmp_path, monkeypatch):
    """Each test's own spool folder (never the user's ~/.lionlab/spool)."""
    folder = tmp_path / "spool"
    monkeypatch.setenv("LIONLAB_SPOOL_DIR", str(folder))
    return folder


@pytest.fixture
def server(tmp_path, monkeypatch):
    srv = start_server(tmp_path / "data")
    monkeypatch.setenv("LIONLAB_API_URL", srv.url)
    monkeypatch.setenv("LIONLAB_API_TOKEN", srv.token)
    yield srv
    srv.stop()
