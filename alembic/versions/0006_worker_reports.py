"""What each worker reports about itself, for `lionlab doctor` and the status page.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("torch_version", sa.String(length=64), nullable=False),
        sa.Column("cuda_version", sa.String(length=64), nullable=True),
        sa.Column("lion_kernel", sa.String(length=64), nullable=False),
        sa.Column("lionlab_version", sa.String(length=64), nullable=False),
        sa.Column("interval_s", sa.Double(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_reports")),
        sa.UniqueConstraint("name", name=op.f("uq_worker_reports_name")),
    )
    op.create_index(op.f("ix_worker_reports_last_seen"), "worker_reports", ["last_seen"])


def downgrade() -> None:
    op.drop_index(op.f("ix_worker_reports_last_seen"), table_name="worker_reports")
    op.drop_table("worker_reports")
