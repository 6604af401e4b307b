"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cxstack.backbone.schema

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
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
        sa.Column("at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
        sa.Column("started_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_workers")),
    )
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
        sa.Column("merged_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_by", sa.String(length=120), nullable=True),
        sa.Column("undone_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
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
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_customers_tenant_id_id", ["tenant_id", "id"], unique=False)

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
        sa.Column("time", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dataschema", sa.String(length=160), nullable=False),
        sa.Column("correlation_id", sa.String(length=32), nullable=False),
        sa.Column("causation_id", sa.String(length=32), nullable=True),
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
        "idempotent_responses",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotent_responses")),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index("ix_notes_target", ["tenant_id", "target_type", "target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notes_tenant_id"), ["tenant_id"], unique=False)

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
        sa.Column("next_attempt_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dead_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_deliveries")),
        sa.UniqueConstraint("subscription", "event_id", name=op.f("uq_parked_deliveries_subscription")),
    )
    with op.batch_alter_table("parked_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_parked_deliveries_due", ["subscription", "dead_at", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_parked_deliveries_subject", ["subscription", "subject"], unique=False)

    op.create_table(
        "processed_events",
        sa.Column("subscription", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("processed_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
        "subscription_positions",
        sa.Column("subscription", sa.String(length=120), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("lease_expires_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subscription", "partition", name=op.f("pk_subscription_positions")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=True),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_tags_tenant_id")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tags_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
        sa.Column("occurred_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
        sa.Column("fire_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fired_event_id", sa.String(length=32), nullable=True),
        sa.Column("failed_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_timers_tenant_id")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_due", ["fired_at", "fire_at"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
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
        sa.Column("due_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("solved_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
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
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_conversations_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversations_assignee"), ["assignee"], unique=False)
        batch_op.create_index(
            "ix_conversations_tenant_customer", ["tenant_id", "customer_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conversations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_conversations_tenant_status", ["tenant_id", "status", "id"], unique=False)
        batch_op.create_index("ix_conversations_tenant_updated_at", ["tenant_id", "updated_at"], unique=False)

    op.create_table(
        "identities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("system", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
        "taggings",
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_taggings_tag_id_tags")),
        sa.PrimaryKeyConstraint("tag_id", "target_type", "target_id", name=op.f("pk_taggings")),
    )
    with op.batch_alter_table("taggings", schema=None) as batch_op:
        batch_op.create_index("ix_taggings_target", ["tenant_id", "target_type", "target_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_taggings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author_kind", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.String(length=80), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", cxstack.backbone.schema.UTCDateTime(timezone=True), nullable=False),
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
    with op.batch_alter_table("taggings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taggings_tenant_id"))
        batch_op.drop_index("ix_taggings_target")

    op.drop_table("taggings")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index("ix_identities_tenant_id_customer_id")
        batch_op.drop_index(batch_op.f("ix_identities_tenant_id"))
        batch_op.drop_index("ix_identities_lookup")
        batch_op.drop_index(batch_op.f("ix_identities_customer_id"))

    op.drop_table("identities")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_tenant_updated_at")
        batch_op.drop_index("ix_conversations_tenant_status")
        batch_op.drop_index(batch_op.f("ix_conversations_tenant_id"))
        batch_op.drop_index("ix_conversations_tenant_customer")
        batch_op.drop_index(batch_op.f("ix_conversations_assignee"))

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
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_tenant_id"))

    op.drop_table("tags")
    op.drop_table("subscription_positions")
    op.drop_table("relay_positions")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_events_subscription_seq")

    op.drop_table("processed_events")
    with op.batch_alter_table("parked_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_parked_deliveries_subject")
        batch_op.drop_index("ix_parked_deliveries_due")

    op.drop_table("parked_deliveries")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_tenant_id"))
        batch_op.drop_index("ix_notes_target")

    op.drop_table("notes")
    op.drop_table("idempotent_responses")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_type"))
        batch_op.drop_index(batch_op.f("ix_events_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_events_subject"))
        batch_op.drop_index("ix_events_partition_seq")

    op.drop_table("events")
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
    op.drop_table("bus_workers")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_tenant_id"))
        batch_op.drop_index("ix_audit_entries_target")

    op.drop_table("audit_entries")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_tenant_id_plan")
        batch_op.drop_index(batch_op.f("ix_accounts_tenant_id"))

    op.drop_table("accounts")
