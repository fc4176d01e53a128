"""Opening the state store: engines for SQLite and PostgreSQL, migrations, schema checks.

SQLite is the embedded default: WAL mode so readers (the web app, `tieout status`) never block
the sync writer, a busy timeout instead of instant "database is locked" errors, and foreign keys
on. PostgreSQL is used as given by URL (psycopg 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from tieout.errors import SchemaOutOfDate, StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def store_failure(exc: DBAPIError) -> StoreError:
    """The store error a database driver's failure becomes, naming what the driver said."""
    return StoreError(f"state store error: {exc.orig if exc.orig is not None else exc}")


def normalize_url(url: str) -> str:
    """Let users write postgresql:// and still get psycopg 3 rather than psycopg2."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        database = url.split("///", 1)[1] if "///" in url else ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision(engine: Engine) -> str:
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    if head is None:
        raise StoreError("no migrations found in the tieout package")
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"cannot open the state store at {engine.url!r}: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations; returns (revision before, revision after)."""
    before = current_revision(engine)
    config = _alembic_config(engine)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"migration failed: {exc}") from exc
    return before, current_revision(engine) or ""


def ensure_schema(engine: Engine, *, create_if_empty: bool = True) -> None:
    """Check the schema is current; a brand-new empty database is migrated on the spot.

    An existing database at an older revision is never upgraded behind the operator's back:
    migrating data that the close depends on should be a deliberate `tieout db upgrade`.
    """
    revision = current_revision(engine)
    head = head_revision(engine)
    if revision == head:
        return
    if revision is None and create_if_empty and not inspect(engine).get_table_names():
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"the state store is at schema revision {revision or 'none'} but this tieout needs {head}; "
        "run `tieout db upgrade`"
    )
