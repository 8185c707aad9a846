"""outbox delivery lease

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:10:00

Two nullable columns on psa_outbox: who is delivering an item right now and until when. A delivery claims the
item with one conditional UPDATE on them, so at most one process is ever mid-post for an item. Adding nullable
columns needs no table rebuild on SQLite.
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('psa_outbox', sa.Column('lease_owner', sa.String(length=100), nullable=True))
    op.add_column('psa_outbox', sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('psa_outbox') as batch:
        batch.drop_column('lease_expires_at')
        batch.drop_column('lease_owner')
