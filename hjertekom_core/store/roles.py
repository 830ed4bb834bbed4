"""PostgreSQL: the role the service connects as, with no right to change the audit log.

The schema is created and migrated by its owner (``hjertekom init`` with the owner's URL). The
service (``hjertekom serve``, the command line of everyday work) connects as another role that may
read and write what the work needs, but on ``audit_log`` only SELECT and INSERT: no UPDATE, DELETE
or TRUNCATE, and, not being the owner, it cannot drop or disable the append-only trigger either.
docs/operations-database.md shows the whole set-up.
"""
from __future__ import annotations

import re

from sqlalchemy import text

from hjertekom_core.store.engine import Store
from hjertekom_core.store.schema import metadata

#: Tables whose rows are never changed or removed once written.
APPEND_ONLY = ("audit_log",)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_sql(role: str, schema: str = "public") -> list[str]:
    """The GRANT statements for the service's role (run them as the owner of the schema)."""
    if not _ROLE_NAME.match(role) or not _ROLE_NAME.match(schema):
        raise ValueError(f"role and schema must be plain lower-case SQL names: {role!r}, {schema!r}")
    # The names are checked against _ROLE_NAME above and quoted; table names come from schema.py.
    statements = [f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"']
    for table in sorted(metadata.tables):
        rights = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f'GRANT {rights} ON "{schema}"."{table}" TO "{role}"')
    # Take back anything granted before (e.g. by a broader GRANT ... ON ALL TABLES).
    for table in APPEND_ONLY:
        statements.append(f'REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON "{schema}"."{table}" '
                          f'FROM "{role}"')
    statements.append(f'GRANT SELECT ON "{schema}"."alembic_version" TO "{role}"')  # schema_revision()
    statements.append(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"')  # serial ids
    return statements


def grant_app_role(store: Store, role: str, schema: str = "public") -> list[str]:
    """Grant ``role`` (which must exist) what the service needs; returns the statements run.

    Run as the owner of the tables, after ``hjertekom init``, and again after a migration that
    adds a table. Refuses a role that owns audit_log: an owner can switch the protection off.
    """
    if store.dialect != "postgresql":
        raise ValueError("database roles exist on PostgreSQL only")
    statements = app_role_sql(role, schema)
    with store.write() as conn:
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE schemaname = :s AND tablename = 'audit_log'"),
                             {"s": schema}).scalar_one_or_none()
        found = conn.execute(text("SELECT rolsuper, pg_has_role(rolname, :owner, 'MEMBER') AS owns "
                                  "FROM pg_roles WHERE rolname = :role"), {"role": role, "owner": owner}).first()
        if found is None:
            raise ValueError(f"role {role} does not exist: CREATE ROLE {role} LOGIN PASSWORD '...' first")
        if found.rolsuper or found.owns:
            raise ValueError(f"{role} is a superuser or owns audit_log (or is a member of its owner {owner}); "
                             "the service must connect as a role that is neither: it could switch the "
                             "audit log's protection off")
        for statement in statements:
            conn.execute(text(statement))
    return statements


def main(argv: list[str] | None = None) -> int:
    """``python -m hjertekom_core.store.roles ROLE [--print]``: grant ROLE on the configured store
    (HJERTEKOM_DATABASE_URL, as the owner), or only print the statements."""
    import argparse

    from hjertekom_core.config import load_config

    parser = argparse.ArgumentParser(prog="python -m hjertekom_core.store.roles", description=main.__doc__)
    parser.add_argument("role")
    parser.add_argument("--schema", default="public")
    parser.add_argument("--print", dest="only_print", action="store_true", help="print the SQL, run nothing")
    args = parser.parse_args(argv)
    try:
        if args.only_print:
            statements = app_role_sql(args.role, args.schema)
        else:
            store = Store(load_config().database_url)
            try:
                statements = grant_app_role(store, args.role, args.schema)
            finally:
                store.dispose()
    except ValueError as exc:
        parser.error(str(exc))
    print(";\n".join(statements) + ";")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
