"""The MLflow-compatible API: key/value tags of runs and experiments, and soft deletion
(MLflow's lifecycle_stage) of projects and runs.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import sqlalchemy as sa

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN on both backends: no table copy.
    op.add_column("projects", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "experiment_tags",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_experiment_tags_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "key", name=op.f("pk_experiment_tags")),
    )
    op.create_table(
        "run_key_tags",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_key_tags_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_key_tags")),
    )


def downgrade() -> None:
    op.drop_table("run_key_tags")
    op.drop_table("experiment_tags")
    # ALTER TABLE ... DROP COLUMN in place (SQLite >= 3.35): a batch copy of `projects`
    # would drop the old table, and with foreign keys on SQLite cascades that drop into
    # every run.
    op.execute("ALTER TABLE runs DROP COLUMN deleted_at")
    op.execute("ALTER TABLE projects DROP COLUMN deleted_at")
