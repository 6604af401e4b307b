"""Prepared reads: the reads people wait on most (a customer, a conversation, a lookup) as Core statements
compiled once per dialect and run on the driver's connection, without the ORM.

Through the ORM one of these reads cost about a millisecond of CPU, most of it building and executing the
statement, not SQLite's work (tens of microseconds); on the embedded driver they run on the event loop's
own thread too (``Database.read_rows``), as the hop to a reader thread cost as much again.

A ``PreparedRead`` takes plain parameters (no ``IN`` lists), converted as the columns they are compared
with convert them, and answers rows as dicts of Python values,
decoded the way the column types decode them (timezone-aware UTC datetimes, JSON documents, booleans), so
the same code gives the same answer on both drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import JSON, Boolean, ColumnElement, Connection, Dialect, Select, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from cxstack.kit.orm import UTCDateTime

Decoder = Callable[[Any], Any]
#: What a prepared read answers with: a row as a dict of Python values that orjson writes as the API's
#: schema would (timestamps with ``OPT_UTC_Z``), without building a pydantic model per row.
Document = dict[str, Any]


#: The lengths of a timestamp SQLite keeps as text, in UTC without an offset: ``YYYY-MM-DD HH:MM:SS`` and
#: with ``.ffffff``.
_NAIVE_TEXT_LENGTHS = (19, 26)


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps timestamps as text, in UTC; JSON carries them as text
        # Parsing with the offset written in costs a sixth of parsing and then setting it.
        value = datetime.fromisoformat(value + "+00:00" if len(value) in _NAIVE_TEXT_LENGTHS else value)
    assert isinstance(value, datetime)
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _decoder(column_type: Any) -> Decoder | None:
    if isinstance(column_type, RowsAsJson):
        return column_type.decode
    if isinstance(column_type, UTCDateTime):
        return _datetime
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, Boolean):
        return _boolean
    return None


class RowsAsJson(JSON):
    """The type of a ``rows_as_json`` column: a JSON array of objects, decoded into dicts of Python values
    as a ``PreparedRead`` decodes its own rows, ordered by ``order_key``."""

    def __init__(self, columns: list[ColumnElement[Any]], order_key: str) -> None:
        super().__init__()
        self.order_key = order_key
        self.item_decoders = [
            (str(column.key), decode) for column in columns if (decode := _decoder(column.type)) is not None
        ]

    def decode(self, value: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = _json(value) if value is not None else []
        for item in items:
            for key, decode in self.item_decoders:
                item[key] = decode(item[key])
        items.sort(key=lambda item: item[self.order_key])
        return items


class _JsonArrayOfObjects(FunctionElement[Any]):
    """``json_group_array(json_object(...))`` on SQLite, ``json_agg(json_build_object(...))`` on
    PostgreSQL: the rows of a group as one JSON array of objects keyed by column name."""

    inherit_cache = True


@compiles(_JsonArrayOfObjects, "sqlite")
def _json_array_sqlite(element: _JsonArrayOfObjects, compiler: SQLCompiler, **kw: Any) -> str:
    pairs = ", ".join(f"'{column.key}', {compiler.process(column, **kw)}" for column in element.clauses)
    return f"json_group_array(json_object({pairs}))"


@compiles(_JsonArrayOfObjects, "postgresql")
def _json_array_postgresql(element: _JsonArrayOfObjects, compiler: SQLCompiler, **kw: Any) -> str:
    pairs = ", ".join(f"'{column.key}', {compiler.process(column, **kw)}" for column in element.clauses)
    return f"coalesce(json_agg(json_build_object({pairs})), '[]'::json)"


def rows_as_json(
    columns: list[ColumnElement[Any]], *where: ColumnElement[bool], order_key: str, name: str
) -> ColumnElement[Any]:
    """A column holding the rows of ``columns`` that ``where`` selects (usually correlated with the outer
    query: a customer's identities) as one JSON array, so that a parent and its children are read in one
    statement. The array is decoded into dicts ordered by ``order_key``; JSON columns are not supported
    inside it."""
    if any(isinstance(column.type, JSON) for column in columns):
        raise ValueError("rows_as_json does not carry JSON columns")
    aggregate = _JsonArrayOfObjects(*columns)
    aggregate.type = RowsAsJson(columns, order_key)
    return select(aggregate).where(*where).scalar_subquery().label(name)


class PreparedRead:
    """A SELECT compiled once per dialect; its bound parameters are named ``bindparam``s."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self.columns = [str(column.key) for column in statement.selected_columns]
        decoders = [(index, _decoder(column.type)) for index, column in enumerate(statement.selected_columns)]
        self.decoders = [(index, decode) for index, decode in decoders if decode is not None]
        self._compiled: dict[str, tuple[str, list[tuple[str, Any, Decoder | None]]]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, list[tuple[str, Any, Decoder | None]]]:
        """Return the statement's SQL for ``dialect`` and, in the order it takes them, its parameters: name,
        the value it has unless given (what the compiler added, e.g. SQLite's ``OFFSET`` after a bound
        ``LIMIT``), and the conversion a value needs for the driver (a timestamp's stored form on SQLite)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            names = list(compiled.positiontup or [])
            if not names and compiled.params:
                raise ValueError(f"{dialect.name} binds parameters by name: prepared reads need positional")
            defaults = compiled.params
            binds: list[tuple[str, Any, Decoder | None]] = [
                (name, defaults.get(name), compiled.binds[name].type.bind_processor(dialect))
                for name in names
            ]
            found = self._compiled[dialect.name] = (str(compiled), binds)
        return found

    def parameters(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """Return the SQL for ``dialect`` and the driver's parameters for ``params``."""
        sql, binds = self.compiled(dialect)
        values = (params.get(name, default) for name, default, _ in binds)
        return sql, tuple(
            value if convert is None else convert(value)
            for value, (_, _, convert) in zip(values, binds, strict=True)
        )

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
        return self.connection.exec_driver_sql(*read.parameters(self.connection.dialect, params))

    def all(self, read: PreparedRead, **params: Any) -> list[dict[str, Any]]:
        return [read.decode(tuple(row)) for row in self._execute(read, params)]

    def first(self, read: PreparedRead, **params: Any) -> dict[str, Any] | None:
        row = self._execute(read, params).first()
        return None if row is None else read.decode(tuple(row))


def session_rows(session: Session) -> ConnectionRows:
    """Prepared reads in ``session``'s transaction, after flushing what it holds (as its own queries would),
    so that they see the session's changes."""
    session.flush()
    return ConnectionRows(session.connection())


class SqliteRows:
    """Prepared reads on a sqlite3 connection of the embedded driver."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def _execute(self, read: PreparedRead, params: Mapping[str, Any]) -> Any:
        return self.connection.execute(*read.parameters(self.dialect, params))

    def all(self, read: PreparedRead, **params: Any) -> list[dict[str, Any]]:
        return [read.decode(row) for row in self._execute(read, params).fetchall()]

    def first(self, read: PreparedRead, **params: Any) -> dict[str, Any] | None:
        row = self._execute(read, params).fetchone()
        return None if row is None else read.decode(row)
