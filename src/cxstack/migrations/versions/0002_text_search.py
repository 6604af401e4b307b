"""text search indexes for the inbox

Revision ID: 0002
Revises: 0001

The inbox's search (``records.conversations.inbox.search_condition``) finds a text anywhere in a
customer's name, a conversation's subject or a message; without an index that reads every conversation,
customer and message of the tenant. Written by hand: the indexes are not table models, so the initial
schema, generated from the models, leaves them out.

- SQLite: an FTS5 table with the trigram tokenizer per searched column, external content (the text stays
  in its own table; the index holds the trigrams by the row's rowid), kept in step by triggers. A
  trigram phrase query finds the rows containing the text, case-insensitively, as LIKE '%text%' does.
  A later migration that rebuilds one of these tables (batch mode copies it into a new one, which drops
  the triggers and renumbers the rowids) must create the triggers again and rebuild the index
  (``INSERT INTO <index>(<index>) VALUES ('rebuild')``).
- PostgreSQL: pg_trgm's GIN indexes, which ILIKE '%text%' uses as it is. pg_trgm is a trusted extension:
  the database's owner may create it.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: (table, column, index): the columns the inbox searches.
SEARCHED = (
    ("messages", "body", "messages_text"),
    ("conversations", "subject", "conversations_text"),
    ("customers", "name", "customers_text"),
)


def _sqlite_upgrade() -> None:
    for table, column, index in SEARCHED:
        op.execute(
            f"CREATE VIRTUAL TABLE {index} USING fts5("
            f"{column}, content='{table}', content_rowid='rowid', tokenize='trigram')"
        )
        op.execute(
            f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {index}(rowid, {column}) VALUES (new.rowid, new.{column}); END"
        )
        op.execute(
            f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {index}({index}, rowid, {column}) VALUES ('delete', old.rowid, old.{column}); END"
        )
        op.execute(
            f"CREATE TRIGGER {index}_update AFTER UPDATE OF {column} ON {table} BEGIN "
            f"INSERT INTO {index}({index}, rowid, {column}) VALUES ('delete', old.rowid, old.{column}); "
            f"INSERT INTO {index}(rowid, {column}) VALUES (new.rowid, new.{column}); END"
        )
        op.execute(f"INSERT INTO {index}({index}) VALUES ('rebuild')")


def _sqlite_downgrade() -> None:
    for _table, _column, index in SEARCHED:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {index}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {index}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column, index in SEARCHED:
        op.execute(f"CREATE INDEX ix_{index} ON {table} USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_downgrade()
        return
    for _table, _column, index in SEARCHED:
        op.execute(f"DROP INDEX IF EXISTS ix_{index}")
