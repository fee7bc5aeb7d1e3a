"""docker-compose.yml is complete and consistent (no Docker engine needed to check it)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_volumes(compose):
    assert set(compose["services"]) == {"postgres", "redis", "api", "worker"}
    named = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert named <= set(compose["volumes"])


def test_postgres_and_redis_have_healthchecks(compose):
    for name in ("postgres", "redis"):
        assert compose["services"][name]["healthcheck"]["test"]


def test_api_migrates_then_serves_on_postgres_and_redis(compose):
    api = compose["services"]["api"]
    assert api["command"][:2] == ["lionlab", "server"]  # `lionlab server` migrates first
    env = api["environment"]
    assert env["LIONLAB_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["LIONLAB_DATABASE_URL"]
    assert env["LIONLAB_BROKER_URL"] == "redis://redis:6379/0"
    for dep in ("postgres", "redis"):
        assert api["depends_on"][dep]["condition"] == "service_healthy"
    port = api["command"][api["command"].index("--port") + 1]
    assert any(p.endswith(f":{port}") for p in api["ports"])


def test_worker_reaches_the_api_with_a_token_and_reserves_gpus(compose):
    worker = compose["services"]["worker"]
    assert worker["command"][:2] == ["lionlab", "worker"]
    env = worker["environment"]
    assert env["LIONLAB_API_URL"] == "http://api:8765"
    assert env["LIONLAB_API_TOKEN"] and "LIONLAB_DATABASE_URL" not in env  # HTTP only
    # the worker token the API registers, not the admin token: a GPU node reads nothing
    api_env = compose["services"]["api"]["environment"]
    assert (
        env["LIONLAB_API_TOKEN"]
        == api_env["LIONLAB_WORKER_TOKEN"]
        != api_env["LIONLAB_ADMIN_TOKEN"]
    )
    assert (
        env["LIONLAB_BROKER_URL"] == compose["services"]["api"]["environment"]["LIONLAB_BROKER_URL"]
    )
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"


def test_every_variable_is_a_lionlab_setting(compose):
    from lionlab.settings import Settings

    known = {f"LIONLAB_{name.upper()}" for name in Settings.model_fields}
    for name in ("api", "worker"):
        unknown = set(compose["services"][name]["environment"]) - known
        assert not unknown, f"{name} sets {unknown}, which Settings does not read"


def test_images_are_built_from_the_dockerfile(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert compose["services"]["api"]["build"] == compose["services"]["worker"]["build"] == "."
    # The image installs the wheel it builds (tests/packaging/test_dockerfile.py has the stages).
    assert re.search(r'pip install .*\.whl\)\[server,worker\]"', dockerfile)
