"""rules: detection rules switched on/off per unit

Revision ID: 0020
Revises: 0001
Create Date: 2026-11-23 06:08:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_unit_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.String(length=160), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rule_id', 'unit_id')
    )
    with op.batch_alter_table('rule_unit_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_unit_settings_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rule_unit_settings_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rule_unit_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_unit_settings_unit_id'))
        batch_op.drop_index(batch_op.f('ix_rule_unit_settings_rule_id'))
    op.drop_table('rule_unit_settings')
