"""SQLite's plans of the statements a piece of code runs, for the tests that pin them.

The embedded driver has no ANALYZE statistics, so SQLite picks indexes by their shape alone, and the plan
a small database gets is the one a large database gets.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event

#: A search through an index on ``tenant_id`` alone: ``SEARCH identities USING INDEX ix (tenant_id=?)``,
#: which reads every row of the tenant.
TENANT_ONLY = re.compile(r"USING (?:COVERING )?INDEX \w+ \(tenant_id=\?\)$")


@contextlib.contextmanager
def captured(engine: Engine, *, kinds: tuple[str, ...] = ()) -> Iterator[list[tuple[str, Any]]]:
    """Collect (statement, parameters) of what runs on ``engine`` meanwhile (those starting with one of
    ``kinds``, if given); an executemany counts once, with its first parameters."""
    statements: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool
    ) -> None:
        if statement.startswith("EXPLAIN") or (kinds and not statement.startswith(kinds)):
            return
        statements.append((statement, parameters[0] if executemany else parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def plans(connection: Connection, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Each statement's plan, one line a step."""
    return {
        statement: [
            str(row[-1])
            for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(parameters))
        ]
        for statement, parameters in list(statements)
    }
