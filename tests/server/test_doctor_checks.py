"""The checks `lionlab doctor` runs, each against a real database, broker or port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from support.local_servers import free_port

from lionlab.settings import Settings
from lionlab_server import migrate
from lionlab_server.db import make_engine
from lionlab_server.services import health

OK, WARN, FAIL = health.Verdict.OK, health.Verdict.WARN, health.Verdict.FAIL


def by_name(checks: list[health.Check]) -> dict[str, health.Check]:
    return {c.name: c for c in checks}


def test_a_migrated_database_passes_and_says_which_it_is(db_url):
    engine = make_engine(db_url)
    try:
        checks = by_name(health.database_checks(engine))
    finally:
        engine.dispose()
    assert checks["database"].verdict is OK and checks["migrations"].verdict is OK
    if db_url.startswith("sqlite"):
        assert checks["sqlite journal"].verdict is OK and "WAL" in checks["sqlite journal"].detail
    else:
        assert checks["postgres version"].detail[:2].isdigit()


def test_a_database_behind_the_newest_migration_fails_the_migrations_line(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    command.downgrade(migrate.alembic_config(engine), "0005")  # before worker_reports
    engine.dispose()
    checks = by_name(health.doctor(Settings(database_url=url, data_dir=tmp_path, port=free_port())))
    assert checks["database"].verdict is OK
    assert checks["migrations"].verdict is FAIL and "lionlab migrate" in checks["migrations"].detail
    # The worker reports' table is newer than that schema: said so, not taken for no workers.
    assert checks["workers"].verdict is WARN and "cannot read" in checks["workers"].detail


def test_doctor_creates_no_database_where_there_is_none(tmp_path):
    settings = Settings(data_dir=tmp_path / "nothing-here", port=free_port())
    checks = by_name(health.doctor(settings))
    assert checks["database"].verdict is FAIL and "no database" in checks["database"].detail
    assert checks["broker"].verdict is WARN  # the embedded broker's file is made on first use
    assert checks["server"].verdict is FAIL and checks["token"].verdict is WARN
    assert not (tmp_path / "nothing-here").exists()


def test_a_broker_that_does_not_answer_fails_fast_and_a_live_one_counts_its_queue(redis_db_url):
    dead = health.broker_check(f"redis://127.0.0.1:{free_port()}/0", ["gpu"])
    assert dead.verdict is FAIL and "cannot reach" in dead.detail
    live = health.broker_check(redis_db_url, ["gpu"])
    assert live.verdict is OK and "waiting: gpu 0" in live.detail


def test_the_embedded_broker_is_checked_through_its_file(tmp_path):
    url = f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    assert health.broker_check(url, ["cpu"]).verdict is WARN
    (tmp_path / "broker.db").touch()
    check = health.broker_check(url, ["cpu"])
    assert check.verdict is OK and "embedded" in check.detail and "cpu 0" in check.detail


def test_the_data_dir_line_reports_its_free_space(tmp_path):
    check = health.data_dir_check(tmp_path / "not-yet")
    free = shutil.disk_usage(tmp_path).free
    expected = (
        OK if free >= health.FREE_WARN_BYTES else WARN if free >= health.FREE_FAIL_BYTES else FAIL
    )
    assert (
        check.verdict is expected and "GiB free" in check.detail and "not created" in check.detail
    )


def test_the_table_has_one_line_per_check_and_names_the_failures():
    checks = [
        health.Check("database", FAIL, "cannot connect"),
        health.Check("broker", OK, "reachable"),
        health.Check("data dir", WARN, "low"),
    ]
    header, *rows, blank, summary = health.table(checks).splitlines()
    assert header.split() == ["CHECK", "VERDICT", "DETAIL"] and blank == ""
    assert [r.split()[:2] for r in rows] == [
        ["database", "FAIL"],
        ["broker", "ok"],
        ["data", "dir"],
    ]
    assert summary == "1 failed: database; 1 warning(s)"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LIONLAB_")}


@pytest.mark.slow
def test_the_cli_exits_non_zero_when_a_check_fails(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lionlab", "doctor", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**clean_env(), "LIONLAB_PORT": str(free_port())},
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 failed: database, server" in done.stdout
