"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 05:10:22.895836
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('accounts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('name', name=op.f('uq_accounts_name'))
    )
    op.create_table('account_settings',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('preferences', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_settings_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_settings'))
    )
    op.create_table('engineers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('psa_member_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_engineers_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engineers')),
    sa.UniqueConstraint('account_id', 'email', name='uq_engineers_account_email')
    )
    with op.batch_alter_table('engineers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engineers_account_id'), ['account_id'], unique=False)

    op.create_table('sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('intake_type', sa.String(length=20), nullable=False),
    sa.Column('intake_text', sa.Text(), nullable=True),
    sa.Column('problem_summary', sa.Text(), nullable=True),
    sa.Column('problem_domain', sa.String(length=100), nullable=True),
    sa.Column('client_name', sa.String(length=200), nullable=True),
    sa.Column('psa_connection_id', sa.String(length=36), nullable=True),
    sa.Column('psa_ticket_id', sa.String(length=64), nullable=True),
    sa.Column('ticket_ref', sa.String(length=64), nullable=True),
    sa.Column('ticket_context', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('state_version', sa.Integer(), nullable=False),
    sa.Column('active_seconds', sa.Integer(), nullable=False),
    sa.Column('parked_seconds', sa.Integer(), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_summary', sa.String(length=500), nullable=True),
    sa.Column('resolution_note_markdown', sa.Text(), nullable=True),
    sa.Column('resolution_note_posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_note_external_id', sa.String(length=128), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalation_reason', sa.String(length=500), nullable=True),
    sa.Column('escalation_package_markdown', sa.Text(), nullable=True),
    sa.Column('escalation_package_posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalation_package_external_id', sa.String(length=128), nullable=True),
    sa.Column('abandoned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('abandon_reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("intake_type IN ('free_text', 'psa_ticket', 'empty')", name=op.f('ck_sessions_intake_type')),
    sa.CheckConstraint("status IN ('active', 'paused', 'escalated', 'resolved', 'abandoned')", name=op.f('ck_sessions_status')),
    sa.CheckConstraint('state_version >= 0', name=op.f('ck_sessions_state_version_nonneg')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['engineers.id'], name=op.f('fk_sessions_owner_id_engineers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions'))
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_sessions_account_status', ['account_id', 'status'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('branch_id', sa.String(length=36), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('raw_content', sa.Text(), nullable=False),
    sa.Column('display_content', sa.Text(), nullable=False),
    sa.Column('lane_item_id', sa.String(length=36), nullable=True),
    sa.Column('author_id', sa.String(length=36), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('cache_read_tokens', sa.Integer(), nullable=True),
    sa.Column('cache_write_tokens', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('user', 'assistant', 'notice')", name=op.f('ck_messages_role')),
    sa.CheckConstraint("status IN ('sent', 'complete', 'failed', 'interrupted')", name=op.f('ck_messages_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_messages_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['author_id'], ['engineers.id'], name=op.f('fk_messages_author_id_engineers')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_messages_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('session_id', 'seq', name='uq_messages_session_seq')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_account_id'), ['account_id'], unique=False)

    op.create_table('preview_cache',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('state_version', sa.Integer(), nullable=False),
    sa.Column('drafter', sa.String(length=20), nullable=False),
    sa.Column('markdown', sa.Text(), nullable=False),
    sa.Column('target_ticket_ref', sa.String(length=64), nullable=True),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("drafter IN ('offline', 'llm')", name=op.f('ck_preview_cache_drafter')),
    sa.CheckConstraint("kind IN ('resolution_note', 'escalation_package')", name=op.f('ck_preview_cache_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_preview_cache_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_preview_cache_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preview_cache')),
    sa.UniqueConstraint('kind', 'session_id', 'state_version', 'drafter', name='uq_preview_cache_key')
    )
    with op.batch_alter_table('preview_cache', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preview_cache_account_id'), ['account_id'], unique=False)

    op.create_table('suggested_fixes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('confidence_pct', sa.Integer(), nullable=False),
    sa.Column('script_template_slug', sa.String(length=200), nullable=True),
    sa.Column('script_template_id', sa.String(length=36), nullable=True),
    sa.Column('ai_drafted_script', sa.Text(), nullable=True),
    sa.Column('ai_drafted_parameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('user_decision', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('partial_notes', sa.Text(), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('pending_reason', sa.Text(), nullable=True),
    sa.Column('ai_outcome_proposal', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("origin IN ('ai', 'engineer')", name=op.f('ck_suggested_fixes_origin')),
    sa.CheckConstraint("status IN ('proposed', 'applied_success', 'applied_failed', 'applied_partial', 'applied_pending', 'dismissed')", name=op.f('ck_suggested_fixes_status')),
    sa.CheckConstraint("user_decision IS NULL OR user_decision IN ('one_off', 'draft_template', 'build_template', 'dismissed')", name=op.f('ck_suggested_fixes_user_decision')),
    sa.CheckConstraint('confidence_pct BETWEEN 0 AND 100', name=op.f('ck_suggested_fixes_confidence_range')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_suggested_fixes_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_suggested_fixes_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggested_fixes'))
    )
    with op.batch_alter_table('suggested_fixes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggested_fixes_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_suggested_fixes_session', ['session_id', 'created_at'], unique=False)

    op.create_table('task_lane_items',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('command', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('question', 'check')", name=op.f('ck_task_lane_items_kind')),
    sa.CheckConstraint("origin IN ('ai', 'engineer')", name=op.f('ck_task_lane_items_origin')),
    sa.CheckConstraint("state IN ('open', 'answered', 'skipped', 'run')", name=op.f('ck_task_lane_items_state')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_task_lane_items_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_task_lane_items_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_lane_items'))
    )
    with op.batch_alter_table('task_lane_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_lane_items_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_task_lane_items_session', ['session_id', 'position'], unique=False)

    op.create_table('draft_templates',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('source_session_id', sa.String(length=36), nullable=False),
    sa.Column('source_fix_id', sa.String(length=36), nullable=True),
    sa.Column('source_engineer_id', sa.String(length=36), nullable=False),
    sa.Column('script_body', sa.Text(), nullable=False),
    sa.Column('proposed_parameters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('proposed_name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('promoted_template_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'rejected')", name=op.f('ck_draft_templates_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_draft_templates_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_engineer_id'], ['engineers.id'], name=op.f('fk_draft_templates_source_engineer_id_engineers')),
    sa.ForeignKeyConstraint(['source_fix_id'], ['suggested_fixes.id'], name=op.f('fk_draft_templates_source_fix_id_suggested_fixes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_session_id'], ['sessions.id'], name=op.f('fk_draft_templates_source_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_templates'))
    )
    with op.batch_alter_table('draft_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_draft_templates_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_draft_templates_account_status', ['account_id', 'status'], unique=False)

    op.create_table('facts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source_type', sa.String(length=32), nullable=False),
    sa.Column('source_ref', sa.String(length=36), nullable=True),
    sa.Column('source_summary', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("source_ref IS NULL OR source_type IN ('question', 'diagnostic_check')", name=op.f('ck_facts_source_ref_only_for_lane')),
    sa.CheckConstraint("source_type IN ('question', 'diagnostic_check', 'user_note', 'ai_synthesis')", name=op.f('ck_facts_source_type')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_facts_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['engineers.id'], name=op.f('fk_facts_created_by_engineers')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_facts_session_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_ref'], ['task_lane_items.id'], name=op.f('fk_facts_source_ref_task_lane_items'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_facts'))
    )
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_facts_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_facts_session', ['session_id', 'created_at'], unique=False)

    op.create_table('llm_usage',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=True),
    sa.Column('message_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('cache_read_tokens', sa.Integer(), nullable=False),
    sa.Column('cache_write_tokens', sa.Integer(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('chat', 'note', 'fact_synthesis', 'title', 'extraction', 'summary')", name=op.f('ck_llm_usage_action')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_llm_usage_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_llm_usage_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_llm_usage_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_llm_usage'))
    )
    with op.batch_alter_table('llm_usage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_llm_usage_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_llm_usage_session_id'), ['session_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('llm_usage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_usage_session_id'))
        batch_op.drop_index(batch_op.f('ix_llm_usage_account_id'))

    op.drop_table('llm_usage')
    with op.batch_alter_table('facts', schema=None) as batch_op:
        batch_op.drop_index('ix_facts_session')
        batch_op.drop_index(batch_op.f('ix_facts_account_id'))

    op.drop_table('facts')
    with op.batch_alter_table('draft_templates', schema=None) as batch_op:
        batch_op.drop_index('ix_draft_templates_account_status')
        batch_op.drop_index(batch_op.f('ix_draft_templates_account_id'))

    op.drop_table('draft_templates')
    with op.batch_alter_table('task_lane_items', schema=None) as batch_op:
        batch_op.drop_index('ix_task_lane_items_session')
        batch_op.drop_index(batch_op.f('ix_task_lane_items_account_id'))

    op.drop_table('task_lane_items')
    with op.batch_alter_table('suggested_fixes', schema=None) as batch_op:
        batch_op.drop_index('ix_suggested_fixes_session')
        batch_op.drop_index(batch_op.f('ix_suggested_fixes_account_id'))

    op.drop_table('suggested_fixes')
    with op.batch_alter_table('preview_cache', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preview_cache_account_id'))

    op.drop_table('preview_cache')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_account_id'))

    op.drop_table('messages')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_account_status')
        batch_op.drop_index(batch_op.f('ix_sessions_account_id'))

    op.drop_table('sessions')
    with op.batch_alter_table('engineers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engineers_account_id'))

    op.drop_table('engineers')
    op.drop_table('account_settings')
    op.drop_table('accounts')
    
