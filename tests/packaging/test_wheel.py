"""The wheel works alone: built from the sdist, installed into a fresh virtual environment
outside the checkout, `lionlab server` migrates its embedded database and serves the API, the
dashboard and its static files from what the wheel carries."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from lionlab_server.migrate import alembic_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(args: list, cwd: Path) -> str:
    """Run a command with the checkout kept off Python's path; its output, or fail with it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _venv(path: Path) -> Path:
    """A fresh virtual environment (no system site-packages); its python."""
    _run([sys.executable, "-m", "venv", path], cwd=path.parent)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from the sdist, as an installer without a published wheel would."""
    dist = tmp_path_factory.mktemp("dist")
    builder = _venv(dist / "build-env")
    _run([builder, "-m", "pip", "install", "-q", "hatchling"], cwd=dist)
    _run([builder, "-m", "hatchling", "build", "-t", "sdist", "-d", dist], cwd=ROOT)
    (sdist,) = dist.glob("lionlab-*.tar.gz")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, sdist], cwd=dist)
    (built,) = dist.glob("lionlab-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """A fresh environment outside the checkout with the wheel and its server extra; its bin/."""
    place = tmp_path_factory.mktemp("env")
    python = _venv(place / "venv")
    constraints = ROOT / "constraints.txt"
    _run([python, "-m", "pip", "install", "-q", "-c", constraints, f"{wheel}[server]"], cwd=place)
    return python.parent


def test_the_wheel_carries_migrations_dashboard_and_kernel_source(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "lionlab_server/migrations/env.py",
        "lionlab_server/migrations/script.py.mako",
        "lionlab/optim/csrc/lion_cpu.c",
    }
    for root, folder in (("alembic", "migrations"), ("frontend", "frontend")):
        for path in (ROOT / root).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(ROOT / root).as_posix()
                expected.add(f"lionlab_server/{folder}/{relative}")
    assert expected - names == set()


def test_installed_package_finds_its_files_inside_itself(installed: Path, tmp_path) -> None:
    probe = (
        "from importlib.resources import files; "
        "from lionlab_server import resources; "
        "print(resources.folder('migrations')); print(resources.folder('frontend')); "
        "print(files('lionlab') / 'optim' / 'csrc' / 'lion_cpu.c')"
    )
    printed = _run([installed / "python", "-c", probe], cwd=tmp_path).split()
    site = installed.parent / "lib"
    for line in printed:
        path = Path(line)
        assert path.exists() and path.is_relative_to(site), path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(installed: Path, tmp_path):
    """`lionlab server` from the fresh environment on its embedded defaults; (url, data dir,
    what it printed)."""
    data_dir = tmp_path / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIONLAB_", "PYTHONPATH"))}
    env["LIONLAB_DATA_DIR"] = str(data_dir)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [installed / "lionlab", "server", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"lionlab server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer from {url}:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url, data_dir, log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_server_from_the_wheel_serves_api_pages_and_static_files(server) -> None:
    url, data_dir, printed = server
    # The first start creates an admin token and prints it.
    (token,) = re.findall(r"^\s+(llk_\S+)$", printed, flags=re.MULTILINE)
    bearer = {"Authorization": f"Bearer {token}"}

    assert httpx.get(f"{url}/api/v1/projects").status_code == 401
    created = httpx.post(f"{url}/api/v1/projects", json={"name": "from-wheel"}, headers=bearer)
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{url}/api/v1/projects", headers=bearer).json()
    assert [p["name"] for p in listed["items"]] == ["from-wheel"]

    # A page rendered from the packaged templates, for the signed-in browser.
    project_id = created.json()["id"]
    page = httpx.get(f"{url}/projects/{project_id}", cookies={"lionlab_token": token})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>from-wheel</h1>" in page.text and "/static/css/base.css" in page.text

    css = httpx.get(f"{url}/static/css/base.css")
    assert css.status_code == 200
    assert css.text == (ROOT / "frontend" / "static" / "css" / "base.css").read_text()

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with sqlite3.connect(data_dir / "lionlab.db") as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head
