"""run_params: each run's parameters as indexed rows (key, MLflow text, number), for the
runs filter grammar; existing runs are backfilled.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10
"""

import sqlalchemy as sa

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    op.create_table(
        "run_params",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("number", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_params_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_params")),
    )
    op.create_index(op.f("ix_run_params_key_number"), "run_params", ["key", "number"])
    _backfill()


def _backfill() -> None:
    """Rows for every existing run, computed by the code the flush hook uses, so old and new
    runs have the same rows."""
    from lionlab_server.store.run_params import param_rows

    bind = op.get_bind()
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer),
        sa.column("optimizer", sa.String),
        sa.column("job", sa.JSON),
        sa.column("config", sa.JSON),
    )
    params = sa.table(
        "run_params",
        sa.column("run_id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("text", sa.Text),
        sa.column("number", sa.Double),
    )
    last = 0
    while True:
        batch = bind.execute(
            sa.select(runs.c.id, runs.c.optimizer, runs.c.job, runs.c.config)
            .where(runs.c.id > last)
            .order_by(runs.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        rows = [row for r in batch for row in param_rows(r.id, r.optimizer, r.job, r.config)]
        if rows:
            bind.execute(sa.insert(params), rows)
        last = batch[-1].id


def downgrade() -> None:
    op.drop_index(op.f("ix_run_params_key_number"), table_name="run_params")
    op.drop_table("run_params")
