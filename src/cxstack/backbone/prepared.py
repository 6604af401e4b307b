"""Prepared reads: the reads people wait on most (a customer, a conversation, a lookup) as Core statements
compiled once per dialect and run on the driver's connection, without the ORM.

Through the ORM one of these reads cost about a millisecond of CPU, most of it building and executing the
statement, not SQLite's work (tens of microseconds); on the embedded driver they run on the event loop's
own thread too (``Database.read_rows``), as the hop to a reader thread cost as much again.

A ``PreparedRead`` takes plain parameters (no ``IN`` lists) and answers rows as dicts of Python values,
decoded the way the column types decode them (timezone-aware UTC datetimes, JSON documents, booleans), so
the same code gives the same answer on both drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import JSON, Boolean, Connection, Dialect, Select

from cxstack.backbone.schema import UTCDateTime

Decoder = Callable[[Any], Any]


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps timestamps as text, in UTC
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _decoder(column_type: Any) -> Decoder | None:
    if isinstance(column_type, UTCDateTime):
        return _datetime
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, Boolean):
        return _boolean
    return None


class PreparedRead:
    """A SELECT compiled once per dialect; its bound parameters are named ``bindparam``s."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.columns = [str(column.key) for column in statement.selected_columns]
        decoders = [(index, _decoder(column.type)) for index, column in enumerate(statement.selected_columns)]
        self.decoders = [(index, decode) for index, decode in decoders if decode is not None]
        self._compiled: dict[str, tuple[str, list[str]]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, list[str]]:
        """Return the statement's SQL for ``dialect`` and its parameters' names in the order it takes them."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            names = list(compiled.positiontup or [])
            if not names and compiled.params:
                raise ValueError(f"{dialect.name} binds parameters by name: prepared reads need positional")
            found = self._compiled[dialect.name] = (str(compiled), names)
        return found

    def decode(self, row: tuple[Any, ...]) -> dict[str, Any]:
        values = list(row)
        for index, decode in self.decoders:
            values[index] = decode(values[index])
        return dict(zip(self.columns, values, strict=True))


class Rows(Protocol):
    """Runs prepared reads in one read transaction (one snapshot)."""

    def all(self, read: PreparedRead, **params: Any) -> list[dict[str, Any]]: ...

    def first(self, read: PreparedRead, **params: Any) -> dict[str, Any] | None: ...


class ConnectionRows:
    """Prepared reads on a SQLAlchemy connection, straight to its driver (``exec_driver_sql``)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _execute(self, read: PreparedRead, params: Mapping[str, Any]) -> Any:
        sql, names = read.compiled(self.connection.dialect)
        return self.connection.exec_driver_sql(sql, tuple(params[name] for name in names))

    def all(self, read: PreparedRead, **params: Any) -> list[dict[str, Any]]:
        return [read.decode(tuple(row)) for row in self._execute(read, params)]

    def first(self, read: PreparedRead, **params: Any) -> dict[str, Any] | None:
        row = self._execute(read, params).first()
        return None if row is None else read.decode(tuple(row))


class SqliteRows:
    """Prepared reads on a sqlite3 connection of the embedded driver."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def _execute(self, read: PreparedRead, params: Mapping[str, Any]) -> Any:
        sql, names = read.compiled(self.dialect)
        return self.connection.execute(sql, tuple(params[name] for name in names))

    def all(self, read: PreparedRead, **params: Any) -> list[dict[str, Any]]:
        return [read.decode(row) for row in self._execute(read, params).fetchall()]

    def first(self, read: PreparedRead, **params: Any) -> dict[str, Any] | None:
        row = self._execute(read, params).fetchone()
        return None if row is None else read.decode(row)
