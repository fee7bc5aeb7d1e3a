"""The Alembic migrations build exactly the schema the ORM models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from lionlab_server import migrate
from lionlab_server.db import make_engine
from lionlab_server.models import Base


def test_models_and_migrations_agree(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_database_is_at_head_and_upgrade_is_idempotent(db_url):
    engine = make_engine(db_url)
    assert migrate.is_current(engine)
    migrate.upgrade(engine)  # a second upgrade changes nothing
    assert migrate.is_current(engine)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_downgrade_to_base_and_back(tmp_path, backend):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    cfg = migrate.alembic_config(engine)
    command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert "metric_points" in inspect(engine).get_table_names()
    engine.dispose()
