"""duty, notices, zero-reports and incident reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 05:33:06.974227
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('duty_handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('from_user', sa.String(length=64), nullable=False),
    sa.Column('to_user', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('open_incident_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duty_handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duty_handovers_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_handovers_unit_id'), ['unit_id'], unique=False)

    op.create_table('key_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('declared_by_unit_id', sa.Integer(), nullable=False),
    sa.Column('declared_by', sa.String(length=64), nullable=False),
    sa.Column('declared_at', sa.DateTime(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('deadline_hour', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['declared_by_unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('key_periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_periods_declared_by_unit_id'), ['declared_by_unit_id'], unique=False)

    op.create_table('duty_shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duty_shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duty_shifts_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_shifts_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_shifts_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_shifts_user_id'), ['user_id'], unique=False)

    op.create_table('key_period_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['key_periods.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period_id', 'unit_id')
    )
    with op.batch_alter_table('key_period_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_period_units_period_id'), ['period_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_key_period_units_unit_id'), ['unit_id'], unique=False)

    op.create_table('zero_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('has_incident', sa.Boolean(), nullable=False),
    sa.Column('incident_ids', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('systems_down', sa.Text(), nullable=False),
    sa.Column('on_duty', sa.String(length=200), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['key_periods.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('period_id', 'unit_id', 'report_date')
    )
    with op.batch_alter_table('zero_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zero_reports_period_id'), ['period_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_zero_reports_report_date'), ['report_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_zero_reports_unit_id'), ['unit_id'], unique=False)

    op.create_table('incident_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'seq')
    )
    with op.batch_alter_table('incident_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_reports_incident_id'), ['incident_id'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('no', sa.String(length=32), nullable=False),
    sa.Column('issuer_unit_id', sa.Integer(), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('target_unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('assets', sa.Text(), nullable=False),
    sa.Column('required_actions', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('overdue_at', sa.DateTime(), nullable=True),
    sa.Column('escalated_to_unit_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['escalated_to_unit_id'], ['units.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.ForeignKeyConstraint(['issuer_unit_id'], ['units.id'], ),
    sa.ForeignKeyConstraint(['target_unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('no')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_issuer_unit_id'), ['issuer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_target_unit_id'), ['target_unit_id'], unique=False)

    op.create_table('notice_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notice_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_history_notice_id'), ['notice_id'], unique=False)

    op.create_table('rectifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('responsible', sa.String(length=100), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('review', sa.String(length=16), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rectifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rectifications_notice_id'), ['notice_id'], unique=False)

    op.create_table('summons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=True),
    sa.Column('head', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('held_at', sa.DateTime(), nullable=False),
    sa.Column('commitments', sa.Text(), nullable=False),
    sa.Column('follow_up_due', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('summons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summons_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_summons_unit_id'), ['unit_id'], unique=False)

    op.create_table('rectification_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rectification_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['rectification_id'], ['rectifications.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rectification_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rectification_evidence_rectification_id'), ['rectification_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rectification_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rectification_evidence_rectification_id'))

    op.drop_table('rectification_evidence')
    with op.batch_alter_table('summons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_summons_unit_id'))
        batch_op.drop_index(batch_op.f('ix_summons_notice_id'))

    op.drop_table('summons')
    with op.batch_alter_table('rectifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rectifications_notice_id'))

    op.drop_table('rectifications')
    with op.batch_alter_table('notice_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_history_notice_id'))

    op.drop_table('notice_history')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_target_unit_id'))
        batch_op.drop_index(batch_op.f('ix_notices_status'))
        batch_op.drop_index(batch_op.f('ix_notices_issuer_unit_id'))
        batch_op.drop_index(batch_op.f('ix_notices_due_at'))

    op.drop_table('notices')
    with op.batch_alter_table('incident_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_reports_incident_id'))

    op.drop_table('incident_reports')
    with op.batch_alter_table('zero_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zero_reports_unit_id'))
        batch_op.drop_index(batch_op.f('ix_zero_reports_report_date'))
        batch_op.drop_index(batch_op.f('ix_zero_reports_period_id'))

    op.drop_table('zero_reports')
    with op.batch_alter_table('key_period_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_period_units_unit_id'))
        batch_op.drop_index(batch_op.f('ix_key_period_units_period_id'))

    op.drop_table('key_period_units')
    with op.batch_alter_table('duty_shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_shifts_user_id'))
        batch_op.drop_index(batch_op.f('ix_duty_shifts_unit_id'))
        batch_op.drop_index(batch_op.f('ix_duty_shifts_starts_at'))
        batch_op.drop_index(batch_op.f('ix_duty_shifts_ends_at'))

    op.drop_table('duty_shifts')
    with op.batch_alter_table('key_periods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_periods_declared_by_unit_id'))

    op.drop_table('key_periods')
    with op.batch_alter_table('duty_handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_handovers_unit_id'))
        batch_op.drop_index(batch_op.f('ix_duty_handovers_at'))

    op.drop_table('duty_handovers')
