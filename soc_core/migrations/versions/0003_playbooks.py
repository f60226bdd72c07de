"""playbooks: escalation steps, tasks, persistent job store, action deliveries and attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:16:48.129360
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduled_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_jobs_next_run_time'), ['next_run_time'], unique=False)

    op.create_table('action_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('adapter', sa.String(length=16), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('action_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_deliveries_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_deliveries_incident_id'), ['incident_id'], unique=False)

    op.create_table('incident_escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('fraction', sa.Double(), nullable=False),
    sa.Column('levels_up', sa.Integer(), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('target_unit_id', sa.Integer(), nullable=True),
    sa.Column('fired_at', sa.DateTime(), nullable=True),
    sa.Column('skipped_reason', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.ForeignKeyConstraint(['target_unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id', 'kind', 'step')
    )
    with op.batch_alter_table('incident_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_escalations_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_escalations_incident_id'), ['incident_id'], unique=False)

    op.create_table('incident_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('playbook', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('owner_role', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incident_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_tasks_incident_id'), ['incident_id'], unique=False)

    op.create_table('action_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['action_deliveries.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('action_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_attempts_delivery_id'), ['delivery_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('action_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_attempts_delivery_id'))

    op.drop_table('action_attempts')
    with op.batch_alter_table('incident_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_tasks_incident_id'))

    op.drop_table('incident_tasks')
    with op.batch_alter_table('incident_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_escalations_incident_id'))
        batch_op.drop_index(batch_op.f('ix_incident_escalations_due_at'))

    op.drop_table('incident_escalations')
    with op.batch_alter_table('action_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_deliveries_incident_id'))
        batch_op.drop_index(batch_op.f('ix_action_deliveries_channel'))

    op.drop_table('action_deliveries')
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_jobs_next_run_time'))

    op.drop_table('scheduled_jobs')
