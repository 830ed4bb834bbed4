"""Core statements compiled once and run on the driver's own cursor (SQLite's hot path, issue 17).

SQLAlchemy's execution costs a SQLite save more CPU than SQLite itself: about 0.03 ms per
statement and as much again per transaction, against 0.01 to 0.02 ms for the INSERT or SELECT in
SQLite. A :class:`DriverStatement` keeps what SQLAlchemy would work out for every call (the SQL
text, the order of the parameters and each column type's conversion for this dialect) and runs
the statement on the DB-API cursor with the same parameters and the same conversions, so the rows
written and read are those SQLAlchemy would write and read.

Listeners of ``before_cursor_execute`` and ``after_cursor_execute`` (statement logs, tests) are
told as by SQLAlchemy, without an execution context (None).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable, Select

Processor = Callable[[Any], Any] | None


class DriverStatement:
    """One Core statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("sql", "keys", "binds", "results", "row")

    def __init__(self, statement: Executable, dialect: Dialect, keys: Sequence[str]) -> None:
        # column_keys: an INSERT or UPDATE without .values() sets the columns named by the parameters
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: the driver path needs a positional paramstyle")
        self.sql: str = compiled.string
        self.keys: tuple[str, ...] = tuple(compiled.positiontup)
        self.binds: tuple[Processor, ...] = tuple(
            compiled.binds[k].type.dialect_impl(dialect).bind_processor(dialect) for k in self.keys
        )
        self.results: tuple[tuple[int, Processor], ...] = ()
        self.row: Any = None
        if isinstance(statement, Select):
            columns = statement.selected_columns
            self.row = namedtuple("Row", list(columns.keys()))  # type: ignore[misc]
            self.results = tuple(
                (i, p)
                for i, c in enumerate(columns)
                if (p := c.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
            )

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters, each converted as SQLAlchemy converts it (a datetime to SQLite's text)."""
        return tuple([
            value if bind is None or value is None else bind(value)
            for value, bind in zip([values[k] for k in self.keys], self.binds)
        ])

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[Any]:
        """Named rows with each column converted as SQLAlchemy's result would convert it."""
        make, results = self.row._make, self.results
        out = []
        for raw in fetched:
            values = list(raw)
            for i, process in results:
                if values[i] is not None:  # NULL stays None, as every processor gives it back
                    values[i] = process(values[i])  # type: ignore[misc]
            out.append(make(values))
        return out


class Driver:
    """The statements of one dialect, each compiled at its first use."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.error: type[Exception] = dialect.loaded_dbapi.Error
        self._compiled: dict[tuple[int, tuple[str, ...]], tuple[Executable, DriverStatement]] = {}

    def compiled(self, statement: Executable, keys: tuple[str, ...]) -> DriverStatement:
        found = self._compiled.get((id(statement), keys))
        if found is not None and found[0] is statement:
            return found[1]
        compiled = DriverStatement(statement, self.dialect, keys)
        if len(self._compiled) > 256:  # statements built per call would pile up: forget them
            self._compiled.clear()
        # keeps the statement alive, so its id is not reused while it is cached
        self._compiled[(id(statement), keys)] = (statement, compiled)
        return compiled

    def cursor(self, conn: Connection) -> DriverCursor:
        return DriverCursor(self, conn)


class DriverCursor:
    """Statements run on one SQLAlchemy connection's DB-API cursor (one read, or one transaction's
    statements); ``close()`` it after. A driver error is raised as SQLAlchemy raises it
    (IntegrityError, OperationalError ...)."""

    def __init__(self, driver: Driver, conn: Connection) -> None:
        self._driver = driver
        self._conn = conn
        self._dbapi = conn.connection.dbapi_connection
        self._cursor = self._dbapi.cursor()  # type: ignore[union-attr]
        dispatch = conn.dispatch
        # the listeners as they are now: one look per read or transaction, not per statement
        self._before = dispatch.before_cursor_execute if dispatch.before_cursor_execute else None
        self._after = dispatch.after_cursor_execute if dispatch.after_cursor_execute else None

    def _execute(self, statement: Executable, values: Mapping[str, Any]) -> DriverStatement:
        compiled = self._driver.compiled(statement, tuple(values))
        params = compiled.parameters(values)
        if self._before is not None:
            self._before(self._conn, self._cursor, compiled.sql, params, None, False)
        try:
            self._cursor.execute(compiled.sql, params)
        except self._driver.error as exc:
            raise self._wrapped(exc, compiled.sql, params) from exc
        if self._after is not None:
            self._after(self._conn, self._cursor, compiled.sql, params, None, False)
        return compiled

    def _wrapped(self, exc: Exception, sql: str, params: Any) -> Exception:  # noqa: ANN401
        driver = self._driver
        return DBAPIError.instance(sql, params, exc, driver.error, dialect=driver.dialect)

    def run(self, statement: Executable, values: Mapping[str, Any]) -> None:
        """A statement without rows (INSERT, UPDATE, DELETE, BEGIN ...)."""
        self._execute(statement, values)

    def all(self, statement: Select[Any], values: Mapping[str, Any]) -> list[Any]:
        """Every row of a SELECT, as named tuples converted like SQLAlchemy's rows."""
        return self._execute(statement, values).rows(self._cursor.fetchall())

    def commit(self) -> None:
        try:
            self._dbapi.commit()  # type: ignore[union-attr]
        except self._driver.error as exc:
            raise self._wrapped(exc, "COMMIT", ()) from exc

    def rollback(self) -> None:
        try:
            self._dbapi.rollback()  # type: ignore[union-attr]
        except self._driver.error as exc:
            raise self._wrapped(exc, "ROLLBACK", ()) from exc

    def close(self) -> None:
        self._cursor.close()
