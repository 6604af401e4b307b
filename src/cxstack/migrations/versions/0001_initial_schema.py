"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cxstack.kit.orm

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("plan", sa.String(length=80), nullable=True),
        sa.Column("annual_revenue_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("tenant_id", "domain", name=op.f("uq_accounts_tenant_id")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_accounts_tenant_id_plan", ["tenant_id", "plan"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("correlation_id", sa.String(length=32), nullable=False),
        sa.Column("at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_entries_target", ["tenant_id", "target_type", "target_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_entries_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "bus_workers",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("started_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_workers")),
    )
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("shortcut", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "team_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint("tenant_id", "shortcut", name="uq_canned_responses_tenant_shortcut"),
    )
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canned_responses_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "customer_merges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("source_customer_id", sa.String(length=32), nullable=False),
        sa.Column("target_customer_id", sa.String(length=32), nullable=False),
        sa.Column(
            "moved",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "filled",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("merged_by", sa.String(length=120), nullable=False),
        sa.Column("merged_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_by", sa.String(length=120), nullable=True),
        sa.Column("undone_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.create_index("ix_customer_merges_source", ["tenant_id", "source_customer_id"], unique=False)
        batch_op.create_index("ix_customer_merges_target", ["tenant_id", "target_customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_merges_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("merged_into_id", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_customers_tenant_id_id", ["tenant_id", "id"], unique=False)

    op.create_table(
        "effects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claimed_until", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("correlation_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_effects")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_effects_kind")),
    )
    with op.batch_alter_table("effects", schema=None) as batch_op:
        batch_op.create_index("ix_effects_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_effects_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "email_inboxes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("signing_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_inboxes")),
        sa.UniqueConstraint("address", name=op.f("uq_email_inboxes_address")),
    )
    with op.batch_alter_table("email_inboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_inboxes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "email_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("inbox_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("thread_id", sa.String(length=32), nullable=True),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("cx_message_id", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column(
            "to_addresses",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "cc_addresses",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.String(length=998), nullable=True),
        sa.Column(
            "reference_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sent_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("raw_key", sa.String(length=64), nullable=False),
        sa.Column("raw_size", sa.Integer(), nullable=False),
        sa.Column("raw_file_id", sa.String(length=32), nullable=True),
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("tenant_id", "cx_message_id", name="uq_email_messages_cx_message_id"),
        sa.UniqueConstraint("tenant_id", "message_id", name="uq_email_messages_message_id"),
    )
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_messages_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_email_messages_thread", ["tenant_id", "thread_id", "created_at"], unique=False
        )

    op.create_table(
        "email_thread_refs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("thread_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_thread_refs")),
        sa.UniqueConstraint("tenant_id", "message_id", name=op.f("uq_email_thread_refs_tenant_id")),
    )
    with op.batch_alter_table("email_thread_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_thread_refs_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_email_thread_refs_thread", ["tenant_id", "thread_id"], unique=False)

    op.create_table(
        "email_threads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("inbox_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("customer_address", sa.String(length=320), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("joined_into_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_threads")),
        sa.UniqueConstraint("tenant_id", "token", name=op.f("uq_email_threads_tenant_id")),
    )
    with op.batch_alter_table("email_threads", schema=None) as batch_op:
        batch_op.create_index("ix_email_threads_conversation", ["tenant_id", "conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_threads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("time", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dataschema", sa.String(length=160), nullable=False),
        sa.Column("correlation_id", sa.String(length=32), nullable=False),
        sa.Column("causation_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_partition_seq", ["partition", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_type"), ["type"], unique=False)

    op.create_table(
        "files",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_conversation", ["tenant_id", "conversation_id", "id"], unique=False)
        batch_op.create_index("ix_files_sha256", ["tenant_id", "sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_files_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "idempotent_responses",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotent_responses")),
    )
    op.create_table(
        "inapp_devices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inapp_devices")),
        sa.UniqueConstraint("tenant_id", "token", name=op.f("uq_inapp_devices_tenant_id")),
    )
    with op.batch_alter_table("inapp_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inapp_devices_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_inapp_devices_visitor", ["tenant_id", "visitor_id"], unique=False)

    op.create_table(
        "inapp_push_settings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("fcm_service_account", sa.Text(), nullable=True),
        sa.Column("fcm_project_id", sa.String(length=128), nullable=True),
        sa.Column("fcm_client_email", sa.String(length=320), nullable=True),
        sa.Column("apns_key_id", sa.String(length=16), nullable=True),
        sa.Column("apns_team_id", sa.String(length=16), nullable=True),
        sa.Column("apns_private_key", sa.Text(), nullable=True),
        sa.Column("apns_topic", sa.String(length=255), nullable=True),
        sa.Column("apns_sandbox", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inapp_push_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_inapp_push_settings_tenant_id")),
    )
    with op.batch_alter_table("inapp_push_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inapp_push_settings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "mentions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("note_id", sa.String(length=32), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentions")),
        sa.UniqueConstraint("tenant_id", "note_id", "user_id", name="uq_mentions_tenant_note_user"),
    )
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mentions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_mentions_user", ["tenant_id", "user_id", "id"], unique=False)

    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_target", ["tenant_id", "target_type", "target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "oidc_providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret", sa.String(length=500), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("provision_users", sa.Boolean(), nullable=False),
        sa.Column("email_claim", sa.String(length=100), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_providers")),
        sa.UniqueConstraint("tenant_id", name="uq_oidc_providers_tenant"),
    )
    with op.batch_alter_table("oidc_providers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_providers_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "oidc_sign_ins",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state_digest", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("next_path", sa.String(length=2000), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_sign_ins")),
        sa.UniqueConstraint("state_digest", name=op.f("uq_oidc_sign_ins_state_digest")),
    )
    with op.batch_alter_table("oidc_sign_ins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_sign_ins_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_sign_ins_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "operator_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_operator_keys_digest")),
    )
    op.create_table(
        "parked_deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subscription", sa.String(length=120), nullable=False),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dead_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_deliveries")),
        sa.UniqueConstraint("subscription", "event_id", name=op.f("uq_parked_deliveries_subscription")),
    )
    with op.batch_alter_table("parked_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_parked_deliveries_due", ["subscription", "dead_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_parked_deliveries_subject", ["subscription", "subject"], unique=False)

    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("account_sid", sa.String(length=64), nullable=False),
        sa.Column("auth_token", sa.String(length=128), nullable=False),
        sa.Column("help_text", sa.Text(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_phone_numbers_number")),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_numbers_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_phone_numbers_tenant_id_id", ["tenant_id", "id"], unique=False)

    op.create_table(
        "processed_events",
        sa.Column("subscription", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("processed_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscription", "event_id", name=op.f("pk_processed_events")),
    )
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_processed_events_subscription_seq", ["subscription", "event_seq"], unique=False
        )

    op.create_table(
        "relay_positions",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_relay_positions")),
    )
    op.create_table(
        "routing_agents",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column(
            "skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "capacity",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("voice_with_other_work", sa.Boolean(), nullable=False),
        sa.Column("presence", sa.String(length=16), nullable=False),
        sa.Column("presence_since", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("wrap_up_until", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_routing_agents")),
    )
    with op.batch_alter_table("routing_agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_agents_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "routing_connections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("process_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_connections")),
    )
    with op.batch_alter_table("routing_connections", schema=None) as batch_op:
        batch_op.create_index("ix_routing_connections_agent", ["tenant_id", "agent_id"], unique=False)
        batch_op.create_index("ix_routing_connections_process", ["process_id"], unique=False)
        batch_op.create_index("ix_routing_connections_seen", ["seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_routing_connections_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "routing_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("declines", sa.Integer(), nullable=False),
        sa.Column("offer_expires_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_items")),
    )
    with op.batch_alter_table("routing_items", schema=None) as batch_op:
        batch_op.create_index("ix_routing_items_conversation", ["tenant_id", "conversation_id"], unique=False)
        batch_op.create_index("ix_routing_items_open", ["tenant_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_routing_items_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "routing_queues",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("escalation_queue_id", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column(
            "team_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("sticky_seconds", sa.Integer(), nullable=False),
        sa.Column(
            "fallback",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("aging_per_minute", sa.Double(), nullable=False),
        sa.Column("wrap_up_seconds", sa.Integer(), nullable=False),
        sa.Column("offer_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("service_level_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_queues")),
    )
    with op.batch_alter_table("routing_queues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_queues_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("uq_routing_queues_tenant_name", ["tenant_id", "name"], unique=True)

    op.create_table(
        "routing_versions",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_routing_versions")),
    )
    op.create_table(
        "saved_views",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
    )
    with op.batch_alter_table("saved_views", schema=None) as batch_op:
        batch_op.create_index("ix_saved_views_owner", ["tenant_id", "owner_id"], unique=False)
        batch_op.create_index("ix_saved_views_team", ["tenant_id", "team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_saved_views_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sla_calendars",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "holidays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_calendars")),
    )
    with op.batch_alter_table("sla_calendars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_calendars_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sla_clocks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("warn_before_seconds", sa.Integer(), nullable=True),
        sa.Column(
            "calendar",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("started_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column("resumed_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_clocks")),
    )
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sla_clocks_conversation", ["tenant_id", "conversation_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_sla_clocks_due", ["tenant_id", "state", "due_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sla_clocks_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sla_conversations",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=True),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("customer_wrote", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_sla_conversations")),
    )
    with op.batch_alter_table("sla_conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_conversations_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sms_inbound_receipts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("number_id", sa.String(length=32), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("keyword", sa.String(length=8), nullable=False),
        sa.Column("received_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_inbound_receipts")),
        sa.UniqueConstraint("tenant_id", "message_sid", name=op.f("uq_sms_inbound_receipts_tenant_id")),
    )
    with op.batch_alter_table("sms_inbound_receipts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sms_inbound_receipts_sender", ["tenant_id", "from_number", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sms_inbound_receipts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sms_opt_outs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sa.String(length=20), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_opt_outs")),
        sa.UniqueConstraint("tenant_id", "phone", name=op.f("uq_sms_opt_outs_tenant_id")),
    )
    with op.batch_alter_table("sms_opt_outs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_opt_outs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sms_outbound",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("number_id", sa.String(length=32), nullable=True),
        sa.Column("from_number", sa.String(length=32), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbound")),
        sa.UniqueConstraint("tenant_id", "message_id", name=op.f("uq_sms_outbound_tenant_id")),
    )
    with op.batch_alter_table("sms_outbound", schema=None) as batch_op:
        batch_op.create_index("ix_sms_outbound_provider_sid", ["tenant_id", "provider_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_sms_outbound_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sms_status_receipts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("outbound_id", sa.String(length=32), nullable=True),
        sa.Column("received_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_status_receipts")),
        sa.UniqueConstraint(
            "tenant_id", "provider_sid", "status", name=op.f("uq_sms_status_receipts_tenant_id")
        ),
    )
    with op.batch_alter_table("sms_status_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_status_receipts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "subscription_positions",
        sa.Column("subscription", sa.String(length=120), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("lease_expires_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subscription", "partition", name=op.f("pk_subscription_positions")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tags_tenant_id")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tags_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_teams_tenant_name"),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "timeline_entries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("origin_customer_id", sa.String(length=32), nullable=False),
        sa.Column("owner_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("ref_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
        sa.UniqueConstraint("event_id", name=op.f("uq_timeline_entries_event_id")),
    )
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timeline_entries_conversation", ["tenant_id", "conversation_id"], unique=False
        )
        batch_op.create_index(
            "ix_timeline_entries_customer",
            ["tenant_id", "customer_id", "occurred_at", "event_seq"],
            unique=False,
        )
        batch_op.create_index(
            "ix_timeline_entries_origin",
            ["tenant_id", "origin_customer_id"],
            unique=False,
            sqlite_where=sa.text("conversation_id IS NULL"),
            postgresql_where=sa.text("conversation_id IS NULL"),
        )
        batch_op.create_index(
            "ix_timeline_entries_record",
            ["tenant_id", "ref_id"],
            unique=False,
            sqlite_where=sa.text("conversation_id IS NULL"),
            postgresql_where=sa.text("conversation_id IS NULL"),
        )
        batch_op.create_index(batch_op.f("ix_timeline_entries_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "timeline_merges",
        sa.Column("merge_id", sa.String(length=32), nullable=False),
        sa.Column("source_customer_id", sa.String(length=32), nullable=False),
        sa.Column("target_customer_id", sa.String(length=32), nullable=False),
        sa.Column("merged_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("unmerged_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "moved",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "moved_back",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("merge_id", name=op.f("pk_timeline_merges")),
    )
    with op.batch_alter_table("timeline_merges", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_merges_source", ["tenant_id", "source_customer_id"], unique=False)
        batch_op.create_index("ix_timeline_merges_target", ["tenant_id", "target_customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_timeline_merges_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "timers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fire_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fired_event_id", sa.String(length=32), nullable=True),
        sa.Column("failed_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_timers_tenant_id")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_due", ["fired_at", "fire_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("locked_until", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "voice_callback_receipts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("received_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_callback_receipts")),
        sa.UniqueConstraint(
            "tenant_id", "call_sid", "kind", "value", name=op.f("uq_voice_callback_receipts_tenant_id")
        ),
    )
    with op.batch_alter_table("voice_callback_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_callback_receipts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "voice_calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("account_sid", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=False),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("escalation_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_status", sa.String(length=20), nullable=False),
        sa.Column("menu_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "ivr",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=80), nullable=True),
        sa.Column("skill", sa.String(length=80), nullable=True),
        sa.Column("agent_id", sa.String(length=80), nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("conference_sid", sa.String(length=64), nullable=True),
        sa.Column(
            "participants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "callback",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("updates", sa.Integer(), nullable=False),
        sa.Column(
            "pending_updates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_voice_calls_call_sid")),
    )
    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_calls_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_voice_calls_tenant_id_id", ["tenant_id", "id"], unique=False)

    op.create_table(
        "voice_escalations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_escalations")),
    )
    with op.batch_alter_table("voice_escalations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_voice_escalations_customer", ["tenant_id", "customer_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_voice_escalations_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "voice_ivrs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column(
            "options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("voicemail_prompt", sa.Text(), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_ivrs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_voice_ivrs_tenant_id")),
    )
    with op.batch_alter_table("voice_ivrs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_ivrs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "voice_recordings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("provider_url", sa.Text(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("voicemail", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_key", sa.String(length=64), nullable=True),
        sa.Column("file_id", sa.String(length=32), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("deleted_at_provider", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_recordings")),
        sa.UniqueConstraint("tenant_id", "recording_sid", name=op.f("uq_voice_recordings_tenant_id")),
    )
    with op.batch_alter_table("voice_recordings", schema=None) as batch_op:
        batch_op.create_index("ix_voice_recordings_call", ["tenant_id", "call_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_voice_recordings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "webchat_settings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("widget_key", sa.String(length=64), nullable=False),
        sa.Column("identity_secret", sa.String(length=128), nullable=False),
        sa.Column("require_verified", sa.Boolean(), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("offline_message", sa.Text(), nullable=False),
        sa.Column(
            "prechat",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "business_hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("push_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_settings")),
        sa.UniqueConstraint("tenant_id", "channel", name=op.f("uq_webchat_settings_tenant_id")),
        sa.UniqueConstraint("widget_key", name=op.f("uq_webchat_settings_widget_key")),
    )
    with op.batch_alter_table("webchat_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webchat_settings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "webchat_visitors",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("open_sockets", sa.Integer(), nullable=False),
        sa.Column("socket_seen_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_visitors")),
        sa.UniqueConstraint("tenant_id", "channel", "user_id", name=op.f("uq_webchat_visitors_tenant_id")),
    )
    with op.batch_alter_table("webchat_visitors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webchat_visitors_conversation", ["tenant_id", "conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_webchat_visitors_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=120), nullable=True),
        sa.Column("due_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("solved_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_cases_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_tenant_customer", ["tenant_id", "customer_id"], unique=False)
        batch_op.create_index("ix_cases_tenant_due", ["tenant_id", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_cases_tenant_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("origin_channel", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("assignee", sa.String(length=80), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "team_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_conversations_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_tenant_assignee", ["tenant_id", "assignee", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_tenant_customer", ["tenant_id", "customer_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conversations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_conversations_tenant_id_id", ["tenant_id", "id"], unique=False)
        batch_op.create_index("ix_conversations_tenant_status", ["tenant_id", "status", "id"], unique=False)
        batch_op.create_index(
            "ix_conversations_tenant_status_updated_at",
            ["tenant_id", "status", "updated_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_conversations_tenant_updated_at", ["tenant_id", "updated_at"], unique=False)

    op.create_table(
        "identities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_identities_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("tenant_id", "kind", "system", "value", name=op.f("uq_identities_tenant_id")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_identities_lookup", ["tenant_id", "kind", "value"], unique=False)
        batch_op.create_index(batch_op.f("ix_identities_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_identities_tenant_id_customer_id", ["tenant_id", "customer_id"], unique=False
        )

    op.create_table(
        "password_resets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_password_resets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_resets")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_password_resets_token_digest")),
    )
    with op.batch_alter_table("password_resets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_resets_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_password_resets_user_id"), ["user_id"], unique=False)

    op.create_table(
        "sla_policies",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("queue_id", sa.String(length=64), nullable=True),
        sa.Column("customer_tier", sa.String(length=64), nullable=True),
        sa.Column("calendar_id", sa.String(length=32), nullable=True),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("next_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("warn_before_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["sla_calendars.id"], name=op.f("fk_sla_policies_calendar_id_sla_calendars")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
    )
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_policies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "taggings",
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_taggings_tag_id_tags")),
        sa.PrimaryKeyConstraint("tag_id", "target_type", "target_id", name=op.f("pk_taggings")),
    )
    with op.batch_alter_table("taggings", schema=None) as batch_op:
        batch_op.create_index("ix_taggings_target", ["tenant_id", "target_type", "target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_taggings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("added_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_team_members_user_id_users")),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_team_members_user", ["user_id"], unique=False)

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_user_sessions_token_digest")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author_kind", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.String(length=80), nullable=True),
        sa.Column("visibility", sa.String(length=8), server_default="public", nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", cxstack.kit.orm.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "delivery",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_messages_conversation_id_conversations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("tenant_id", "conversation_id", "client_id", name=op.f("uq_messages_tenant_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_conversation_id_id", ["conversation_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_messages_customer_id"))
        batch_op.drop_index("ix_messages_conversation_id_id")

    op.drop_table("messages")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_user_sessions_tenant_id"))

    op.drop_table("user_sessions")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index("ix_team_members_user")
        batch_op.drop_index(batch_op.f("ix_team_members_tenant_id"))

    op.drop_table("team_members")
    with op.batch_alter_table("taggings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taggings_tenant_id"))
        batch_op.drop_index("ix_taggings_target")

    op.drop_table("taggings")
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_policies_tenant_id"))

    op.drop_table("sla_policies")
    with op.batch_alter_table("password_resets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_resets_user_id"))
        batch_op.drop_index(batch_op.f("ix_password_resets_tenant_id"))

    op.drop_table("password_resets")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index("ix_identities_tenant_id_customer_id")
        batch_op.drop_index(batch_op.f("ix_identities_tenant_id"))
        batch_op.drop_index("ix_identities_lookup")
        batch_op.drop_index(batch_op.f("ix_identities_customer_id"))

    op.drop_table("identities")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_tenant_updated_at")
        batch_op.drop_index("ix_conversations_tenant_status_updated_at")
        batch_op.drop_index("ix_conversations_tenant_status")
        batch_op.drop_index("ix_conversations_tenant_id_id")
        batch_op.drop_index(batch_op.f("ix_conversations_tenant_id"))
        batch_op.drop_index("ix_conversations_tenant_customer")
        batch_op.drop_index("ix_conversations_tenant_assignee")

    op.drop_table("conversations")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_tenant_status")
        batch_op.drop_index(batch_op.f("ix_cases_tenant_id"))
        batch_op.drop_index("ix_cases_tenant_due")
        batch_op.drop_index("ix_cases_tenant_customer")

    op.drop_table("cases")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_tenant_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("webchat_visitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webchat_visitors_tenant_id"))
        batch_op.drop_index("ix_webchat_visitors_conversation")

    op.drop_table("webchat_visitors")
    with op.batch_alter_table("webchat_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webchat_settings_tenant_id"))

    op.drop_table("webchat_settings")
    with op.batch_alter_table("voice_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_recordings_tenant_id"))
        batch_op.drop_index("ix_voice_recordings_call")

    op.drop_table("voice_recordings")
    with op.batch_alter_table("voice_ivrs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_ivrs_tenant_id"))

    op.drop_table("voice_ivrs")
    with op.batch_alter_table("voice_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_escalations_tenant_id"))
        batch_op.drop_index("ix_voice_escalations_customer")

    op.drop_table("voice_escalations")
    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_voice_calls_tenant_id_id")
        batch_op.drop_index(batch_op.f("ix_voice_calls_tenant_id"))

    op.drop_table("voice_calls")
    with op.batch_alter_table("voice_callback_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_callback_receipts_tenant_id"))

    op.drop_table("voice_callback_receipts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_tenant_id"))

    op.drop_table("users")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_due")

    op.drop_table("timers")
    with op.batch_alter_table("timeline_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timeline_merges_tenant_id"))
        batch_op.drop_index("ix_timeline_merges_target")
        batch_op.drop_index("ix_timeline_merges_source")

    op.drop_table("timeline_merges")
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timeline_entries_tenant_id"))
        batch_op.drop_index(
            "ix_timeline_entries_record",
            sqlite_where=sa.text("conversation_id IS NULL"),
            postgresql_where=sa.text("conversation_id IS NULL"),
        )
        batch_op.drop_index(
            "ix_timeline_entries_origin",
            sqlite_where=sa.text("conversation_id IS NULL"),
            postgresql_where=sa.text("conversation_id IS NULL"),
        )
        batch_op.drop_index("ix_timeline_entries_customer")
        batch_op.drop_index("ix_timeline_entries_conversation")

    op.drop_table("timeline_entries")
    op.drop_table("tenants")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_tenant_id"))

    op.drop_table("teams")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_tenant_id"))

    op.drop_table("tags")
    op.drop_table("subscription_positions")
    with op.batch_alter_table("sms_status_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_status_receipts_tenant_id"))

    op.drop_table("sms_status_receipts")
    with op.batch_alter_table("sms_outbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_outbound_tenant_id"))
        batch_op.drop_index("ix_sms_outbound_provider_sid")

    op.drop_table("sms_outbound")
    with op.batch_alter_table("sms_opt_outs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_opt_outs_tenant_id"))

    op.drop_table("sms_opt_outs")
    with op.batch_alter_table("sms_inbound_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_inbound_receipts_tenant_id"))
        batch_op.drop_index("ix_sms_inbound_receipts_sender")

    op.drop_table("sms_inbound_receipts")
    with op.batch_alter_table("sla_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_conversations_tenant_id"))

    op.drop_table("sla_conversations")
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_clocks_tenant_id"))
        batch_op.drop_index("ix_sla_clocks_due")
        batch_op.drop_index("ix_sla_clocks_conversation")

    op.drop_table("sla_clocks")
    with op.batch_alter_table("sla_calendars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_calendars_tenant_id"))

    op.drop_table("sla_calendars")
    with op.batch_alter_table("saved_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_views_tenant_id"))
        batch_op.drop_index("ix_saved_views_team")
        batch_op.drop_index("ix_saved_views_owner")

    op.drop_table("saved_views")
    op.drop_table("routing_versions")
    with op.batch_alter_table("routing_queues", schema=None) as batch_op:
        batch_op.drop_index("uq_routing_queues_tenant_name")
        batch_op.drop_index(batch_op.f("ix_routing_queues_tenant_id"))

    op.drop_table("routing_queues")
    with op.batch_alter_table("routing_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_items_tenant_id"))
        batch_op.drop_index("ix_routing_items_open")
        batch_op.drop_index("ix_routing_items_conversation")

    op.drop_table("routing_items")
    with op.batch_alter_table("routing_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_connections_tenant_id"))
        batch_op.drop_index("ix_routing_connections_seen")
        batch_op.drop_index("ix_routing_connections_process")
        batch_op.drop_index("ix_routing_connections_agent")

    op.drop_table("routing_connections")
    with op.batch_alter_table("routing_agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_agents_tenant_id"))

    op.drop_table("routing_agents")
    op.drop_table("relay_positions")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_events_subscription_seq")

    op.drop_table("processed_events")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_phone_numbers_tenant_id_id")
        batch_op.drop_index(batch_op.f("ix_phone_numbers_tenant_id"))

    op.drop_table("phone_numbers")
    with op.batch_alter_table("parked_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_parked_deliveries_subject")
        batch_op.drop_index("ix_parked_deliveries_due")

    op.drop_table("parked_deliveries")
    op.drop_table("operator_keys")
    with op.batch_alter_table("oidc_sign_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_sign_ins_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_sign_ins_expires_at"))

    op.drop_table("oidc_sign_ins")
    with op.batch_alter_table("oidc_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_providers_tenant_id"))

    op.drop_table("oidc_providers")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_tenant_id"))
        batch_op.drop_index("ix_notes_target")

    op.drop_table("notes")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_mentions_user")
        batch_op.drop_index(batch_op.f("ix_mentions_tenant_id"))

    op.drop_table("mentions")
    with op.batch_alter_table("inapp_push_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inapp_push_settings_tenant_id"))

    op.drop_table("inapp_push_settings")
    with op.batch_alter_table("inapp_devices", schema=None) as batch_op:
        batch_op.drop_index("ix_inapp_devices_visitor")
        batch_op.drop_index(batch_op.f("ix_inapp_devices_tenant_id"))

    op.drop_table("inapp_devices")
    op.drop_table("idempotent_responses")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_tenant_id"))
        batch_op.drop_index("ix_files_sha256")
        batch_op.drop_index("ix_files_conversation")

    op.drop_table("files")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_type"))
        batch_op.drop_index(batch_op.f("ix_events_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_events_subject"))
        batch_op.drop_index("ix_events_partition_seq")

    op.drop_table("events")
    with op.batch_alter_table("email_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_threads_tenant_id"))
        batch_op.drop_index("ix_email_threads_conversation")

    op.drop_table("email_threads")
    with op.batch_alter_table("email_thread_refs", schema=None) as batch_op:
        batch_op.drop_index("ix_email_thread_refs_thread")
        batch_op.drop_index(batch_op.f("ix_email_thread_refs_tenant_id"))

    op.drop_table("email_thread_refs")
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_email_messages_thread")
        batch_op.drop_index(batch_op.f("ix_email_messages_tenant_id"))

    op.drop_table("email_messages")
    with op.batch_alter_table("email_inboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_inboxes_tenant_id"))

    op.drop_table("email_inboxes")
    with op.batch_alter_table("effects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_effects_tenant_id"))
        batch_op.drop_index("ix_effects_due")

    op.drop_table("effects")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_tenant_id_id")
        batch_op.drop_index(batch_op.f("ix_customers_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_customers_account_id"))

    op.drop_table("customers")
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merges_tenant_id"))
        batch_op.drop_index("ix_customer_merges_target")
        batch_op.drop_index("ix_customer_merges_source")

    op.drop_table("customer_merges")
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_responses_tenant_id"))

    op.drop_table("canned_responses")
    op.drop_table("bus_workers")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_tenant_id"))
        batch_op.drop_index("ix_audit_entries_target")

    op.drop_table("audit_entries")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_tenant_id_plan")
        batch_op.drop_index(batch_op.f("ix_accounts_tenant_id"))

    op.drop_table("accounts")
