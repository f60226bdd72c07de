"""sensors: last heartbeat, version and counters per sensor

Revision ID: 0030
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0030'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sensor_status',
        sa.Column('sensor_id', sa.Integer(), nullable=False),
        sa.Column('last_heartbeat_at', sa.DateTime(), nullable=False),
        sa.Column('sensor_time', sa.DateTime(), nullable=False),
        sa.Column('version', sa.String(length=64), nullable=False),
        sa.Column('counters', sa.JSON(), nullable=False),
        sa.Column('heartbeats', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['sensor_id'], ['sensors.id']),
        sa.PrimaryKeyConstraint('sensor_id'),
    )


def downgrade() -> None:
    op.drop_table('sensor_status')
