"""``StoreSession.statement()``: one read statement without a transaction around it (a save reads
its course so, issue 17). It must give what ``read()`` gives, leave no transaction open, send no
BEGIN or COMMIT, and leave the session's next transactions as they were."""

from __future__ import annotations

from sqlalchemy import event, func, select

from hjertekom_core.store import Store
from hjertekom_core.store.schema import municipalities


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement.strip().split()[0].upper())

    return seen


def test_one_statement_reads_without_begin_or_commit(store: Store) -> None:
    query = select(func.count()).select_from(municipalities)
    with store.session() as session:
        with session.read() as conn:
            expected = conn.execute(query).scalar_one()
        seen = _statements(store)
        with session.statement() as conn:
            assert conn.execute(query).scalar_one() == expected == 98
            driver = conn.connection.driver_connection
            if store.dialect == "postgresql":  # psycopg sent no BEGIN: nothing to COMMIT
                assert driver.info.transaction_status == driver.info.transaction_status.IDLE
            else:
                assert driver.in_transaction is False
        assert seen == ["SELECT"]  # no BEGIN (SQLite: our listener's; PostgreSQL: psycopg's)
        driver = session._conn.connection.driver_connection
        if store.dialect == "postgresql":
            assert driver.info.transaction_status == driver.info.transaction_status.IDLE
            assert driver.autocommit is False  # the next transaction is an ordinary one again
        else:
            assert driver.in_transaction is False
        # the session's next read and write are transactions as before
        with session.write() as conn:
            conn.execute(municipalities.update().where(municipalities.c.code == 740).values(name="Silkeborg"))
        with session.read() as conn:
            assert conn.execute(query).scalar_one() == 98
    if store.dialect == "sqlite":
        assert seen[1:3] == ["BEGIN", "UPDATE"] and "BEGIN" in seen[3:]  # BEGIN IMMEDIATE, then the read


def test_an_error_in_the_statement_leaves_the_session_usable(store: Store) -> None:
    with store.session() as session:
        try:
            with session.statement() as conn:
                conn.execute(select(municipalities.c.code).where(municipalities.c.code == 740)).scalar_one()
                raise LookupError("refused after the read")
        except LookupError:
            pass
        with session.read() as conn:
            assert conn.execute(select(func.count()).select_from(municipalities)).scalar_one() == 98


def test_a_connection_that_cannot_leave_autocommit_is_discarded() -> None:
    from hjertekom_core.store.engine import _end_autocommit

    class Broken:
        @property
        def autocommit(self) -> bool:
            return True

        @autocommit.setter
        def autocommit(self, value: bool) -> None:
            raise OSError("the server went away")

    class Conn:
        invalidated = False

        def invalidate(self) -> None:
            self.invalidated = True

    conn = Conn()
    _end_autocommit(conn, Broken())  # type: ignore[arg-type]
    assert conn.invalidated
