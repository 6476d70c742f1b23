"""Database engine, sessions, the declarative base and schema migrations.

SQLite runs in WAL mode with foreign keys on; PostgreSQL is used as given. The schema is
owned by Alembic (``kumo/db/migrations``): :func:`upgrade` brings any database to head.
"""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event, orm


class Base(orm.DeclarativeBase):
    """Declarative base of every Kumo table."""


class Database:
    """One engine and its session factory.

    ``session()`` is a context manager yielding an ORM session in a transaction that
    commits on success and rolls back on any exception, so a failed request changes
    nothing. Callbacks passed to ``after_commit`` run only once the commit succeeded.
    """

    def __init__(self, url: str, pool_size: int = 20):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            # A pool as large as the worker threads: SQLite connections are cheap to
            # keep and costly to reopen (the PRAGMAs run on every connect).
            kwargs.update(connect_args={"check_same_thread": False, "timeout": 30},
                          pool_size=pool_size, max_overflow=pool_size)
        else:
            kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.engine = sa.create_engine(url, **kwargs)
        self.read_engine = self.engine
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
            # Readers take no write lock: a second engine whose BEGIN is deferred.
            self.read_engine = sa.create_engine(url, **kwargs)
            event.listen(self.read_engine, "connect", _sqlite_on_connect)
            event.listen(self.read_engine, "begin", _sqlite_begin_deferred)
        self._sessionmaker = orm.sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessionmaker = orm.sessionmaker(self.read_engine, expire_on_commit=False)
        self._local = threading.local()
        self._write_lock = threading.Lock()

    @contextlib.contextmanager
    def session(self, readonly: bool = False) -> Iterator[orm.Session]:
        """A transaction; nested calls on the same thread share the outer session.

        ``readonly=True`` promises no writes (on SQLite it takes no write lock).
        """
        outer = getattr(self._local, "session", None)
        if outer is not None:
            yield outer
            return
        session = (self._read_sessionmaker if readonly else self._sessionmaker)()
        session.info["after_commit"] = []
        self._local.session = session
        # SQLite has one writer at a time; queueing writers on a Python lock is fair
        # and prompt, where SQLite's busy handler sleeps with growing back-off.
        lock = self._write_lock if self.is_sqlite and not readonly else None
        if lock is not None:
            lock.acquire()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            self._local.session = None
            callbacks = session.info.pop("after_commit", [])
            session.close()
            if lock is not None:
                lock.release()
        for callback in callbacks:
            callback()

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def after_commit(session: orm.Session, callback) -> None:
    """Run ``callback()`` after ``session`` commits (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(callback)


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is lazy).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin_deferred(conn) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_begin_immediate(conn) -> None:
    # BEGIN IMMEDIATE takes the write lock at the start, so two concurrent writers
    # serialize instead of one failing with "database is locked" on upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply Alembic migrations to ``url`` up to ``revision`` (every branch head by
    default: each service area owns its migration branch)."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
