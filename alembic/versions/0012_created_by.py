"""Who created each run and sweep: the signed-in username, else the token's name.

Rows from before this revision keep NULL (the dashboard shows them as unknown).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN on both backends: no table copy.
    op.add_column("runs", sa.Column("created_by", sa.String(length=200), nullable=True))
    op.add_column("sweeps", sa.Column("created_by", sa.String(length=200), nullable=True))
    op.create_index(op.f("ix_runs_project_id_created_by"), "runs", ["project_id", "created_by"])


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_project_id_created_by"), table_name="runs")
    # batch: SQLite drops a column by copying the table
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("created_by")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("created_by")
