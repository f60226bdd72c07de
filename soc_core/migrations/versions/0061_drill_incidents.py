"""drills: incidents raised by an exercise's traffic carry its id (演练)

Revision ID: 0061
Revises: 0002, 0060
"""
from alembic import op
import sqlalchemy as sa


revision = '0061'
down_revision = ('0002', '0060')
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.add_column(sa.Column('drill_id', sa.Integer(), nullable=True))
        batch.create_index('ix_incidents_drill_id', ['drill_id'])


def downgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.drop_index('ix_incidents_drill_id')
        batch.drop_column('drill_id')
