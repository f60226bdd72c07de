"""drills: exercises, members, red results and blue reports

Revision ID: 0060
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0060'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'drill_exercises',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('organizer_unit_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=False),
        sa.Column('scope_unit_ids', sa.JSON(), nullable=False),
        sa.Column('blue_unit_ids', sa.JSON(), nullable=False),
        sa.Column('key_unit_ids', sa.JSON(), nullable=False),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column('attacker_networks', sa.JSON(), nullable=False),
        sa.Column('rules_of_engagement', sa.Text(), nullable=False),
        sa.Column('scoring_policy', sa.String(length=100), nullable=False),
        sa.Column('page_real_escalation', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organizer_unit_id'], ['units.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_drill_exercises_organizer_unit_id', 'drill_exercises', ['organizer_unit_id'])
    op.create_table(
        'drill_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('team', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['exercise_id'], ['drill_exercises.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_drill_members_exercise_user', 'drill_members', ['exercise_id', 'user_id'], unique=True)
    op.create_index('ix_drill_members_user_id', 'drill_members', ['user_id'])
    op.create_table(
        'drill_red_results',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=False),
        sa.Column('team', sa.String(length=100), nullable=False),
        sa.Column('submitted_by', sa.Integer(), nullable=False),
        sa.Column('defender_unit_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('asset', sa.String(length=200), nullable=False),
        sa.Column('asset_address', sa.String(length=64), nullable=False),
        sa.Column('vulnerability', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('attack_time', sa.DateTime(), nullable=False),
        sa.Column('source_addresses', sa.JSON(), nullable=False),
        sa.Column('in_scope', sa.Boolean(), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('points', sa.Double(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=False),
        sa.Column('judged_by', sa.String(length=64), nullable=True),
        sa.Column('judged_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['exercise_id'], ['drill_exercises.id']),
        sa.ForeignKeyConstraint(['submitted_by'], ['users.id']),
        sa.ForeignKeyConstraint(['defender_unit_id'], ['units.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_drill_red_results_exercise_id', 'drill_red_results', ['exercise_id'])
    op.create_index('ix_drill_red_results_defender_unit_id', 'drill_red_results', ['defender_unit_id'])
    op.create_table(
        'drill_blue_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('red_result_id', sa.Integer(), nullable=False),
        sa.Column('submitted_by', sa.String(length=64), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=False),
        sa.Column('narrative', sa.JSON(), nullable=False),
        sa.Column('prefill', sa.JSON(), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('dimension_scores', sa.JSON(), nullable=False),
        sa.Column('bonus', sa.Double(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('judged_by', sa.String(length=64), nullable=True),
        sa.Column('judged_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['exercise_id'], ['drill_exercises.id']),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id']),
        sa.ForeignKeyConstraint(['red_result_id'], ['drill_red_results.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_drill_blue_reports_exercise_id', 'drill_blue_reports', ['exercise_id'])
    op.create_index('ix_drill_blue_reports_unit_id', 'drill_blue_reports', ['unit_id'])


def downgrade() -> None:
    op.drop_table('drill_blue_reports')
    op.drop_table('drill_red_results')
    op.drop_table('drill_members')
    op.drop_table('drill_exercises')
