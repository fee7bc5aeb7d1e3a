"""The job spec in a column of its own; a client key for idempotent run creation.

Until now a job's spec lived in `runs.config["job"]`, so replacing a run's config could erase
it. It moves to `runs.job`; the config keeps only what the user gave.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

runs = sa.table(
    "runs",
    sa.column("id", sa.Integer()),
    sa.column("config", sa.JSON()),
    sa.column("job", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("job", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("client_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_runs_project_id_client_key"), ["project_id", "client_key"]
        )
    conn = op.get_bind()
    for run_id, config in conn.execute(sa.select(runs.c.id, runs.c.config)).all():
        if isinstance(config, dict) and "job" in config:
            rest = {k: v for k, v in config.items() if k != "job"}
            conn.execute(
                runs.update().where(runs.c.id == run_id).values(job=config["job"], config=rest)
            )


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.config, runs.c.job).where(runs.c.job.is_not(None))
    ).all()
    for run_id, config, job in rows:
        conn.execute(
            runs.update().where(runs.c.id == run_id).values(config={**(config or {}), "job": job})
        )
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(op.f("uq_runs_project_id_client_key"), type_="unique")
        batch.drop_column("client_key")
        batch.drop_column("job")
