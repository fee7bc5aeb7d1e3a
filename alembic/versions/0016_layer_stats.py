"""Per-layer statistics: a run's layer names, one float32 vector per (run, stat, step), their
level-of-detail buckets, and the per-layer detectors' state.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "layer_names",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_layer_names_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "idx", name=op.f("pk_layer_names")),
        sa.UniqueConstraint("run_id", "name", name=op.f("uq_layer_names_run_id_name")),
    )
    op.create_table(
        "layer_stats",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stat", sa.SmallInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("vals", sa.LargeBinary(), nullable=False),
        sa.Column("pcts", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "stat", "step", name=op.f("pk_layer_stats")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "layer_lod",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("stat", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("lo", sa.LargeBinary(), nullable=False),
        sa.Column("hi", sa.LargeBinary(), nullable=False),
        sa.Column("pct_lo", sa.LargeBinary(), nullable=False),
        sa.Column("pct_hi", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "stat", "level", "bucket", name=op.f("pk_layer_lod")),
        sqlite_with_rowid=False,
    )


    op.create_table(
        "layer_detector_states",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_layer_detector_states_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_layer_detector_states")),
    )


def downgrade() -> None:
    op.drop_table("layer_detector_states")
    op.drop_table("layer_lod")
    op.drop_table("layer_stats")
    op.drop_table("layer_names")
