"""journey hints for the bias report and AutoML: favorable_label, privileged_groups, metric

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 13:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("favorable_label", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("privileged_groups", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("metric", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.drop_column("metric")
        batch_op.drop_column("privileged_groups")
        batch_op.drop_column("favorable_label")
