"""Alembic environment: migrates the database LionLab is configured for.

The connection comes from `config.attributes["connection"]` when the server (or a test)
passes one, else from `sqlalchemy.url`, else from LIONLAB_DATABASE_URL / the embedded default.
"""

from alembic import context
from lionlab.settings import Settings
from lionlab_server.db import make_engine
from lionlab_server.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("LionLab migrations run online only: `lionlab migrate`.")
run_migrations_online()
