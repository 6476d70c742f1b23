"""Database engine, sessions, the declarative base and schema migrations.

SQLite runs in WAL mode with foreign keys on; PostgreSQL is used as given. The schema is
owned by Alembic (``kumo/db/migrations``): :func:`upgrade` brings any database to head.

Connection pools on PostgreSQL are bounded so several API processes fit the server's
``max_connections`` (see :class:`Database`); transactions that fail on a deadlock or a
serialization failure are re-run by :func:`retrying` (see there for exactly when).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event, orm


class Base(orm.DeclarativeBase):
    """Declarative base of every Kumo table."""


LOG = logging.getLogger(__name__)

#: Per thread: how deep in :meth:`Database.session` it is, and how many write
#: transactions it has committed (what :func:`retrying` looks at).
_tls = threading.local()


class Database:
    """One engine and its session factory.

    ``session()`` is a context manager yielding an ORM session in a transaction that
    commits on success and rolls back on any exception, so a failed request changes
    nothing. Callbacks passed to ``after_commit`` run only once the commit succeeded.

    Pools: on SQLite, ``pool_size`` connections (+ as many overflow) per engine (one
    writer engine, one reader engine). On PostgreSQL one engine serves both and holds
    at most ``pg_pool_size + pg_max_overflow`` connections (defaults 10 + 15 = 25, the
    settings ``db_pool_size``/``db_max_overflow``), so three API processes use at most
    75 of PostgreSQL's default ``max_connections`` of 100 (97 once the 3
    ``superuser_reserved_connections`` are taken off), leaving 22 for ``kumo`` commands
    (migrations, ``fernet rotate``), ``psql`` and monitoring. A worker thread waiting
    for a connection waits up to ``pool_timeout`` (30 s); requests mostly spend their
    time elsewhere (bcrypt, JSON, the network), so 40 worker threads share 25
    connections well.
    """

    def __init__(self, url: str, pool_size: int = 20, pg_pool_size: int = 10,
                 pg_max_overflow: int = 15):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            # A pool as large as the worker threads: SQLite connections are cheap to
            # keep and costly to reopen (the PRAGMAs run on every connect).
            kwargs.update(connect_args={"check_same_thread": False, "timeout": 30},
                          pool_size=pool_size, max_overflow=pool_size)
        else:
            kwargs.update(pool_size=max(1, pg_pool_size),
                          max_overflow=max(0, pg_max_overflow), pool_pre_ping=True)
        self.engine = sa.create_engine(url, **kwargs)
        self.read_engine = self.engine
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            # Readers take no write lock: a second engine whose BEGIN is deferred.
            self.read_engine = sa.create_engine(url, **kwargs)
            event.listen(self.read_engine, "connect", _sqlite_on_connect)
        self._sessionmaker = orm.sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessionmaker = orm.sessionmaker(self.read_engine, expire_on_commit=False)
        if self.is_sqlite:
            # BEGIN is issued from the sessions' after_begin event, not the engines'
            # "begin" event: any engine-level listener makes SQLAlchemy dispatch
            # events around every statement, which costs ~10 us each.
            event.listen(self._sessionmaker, "after_begin", _sqlite_begin_immediate)
            event.listen(self._read_sessionmaker, "after_begin", _sqlite_begin_deferred)
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
        _tls.depth = getattr(_tls, "depth", 0) + 1
        try:
            yield session
            session.commit()
            if not readonly:
                _tls.writes = getattr(_tls, "writes", 0) + 1
        except BaseException:
            session.rollback()
            raise
        finally:
            _tls.depth -= 1
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


#: SQLSTATEs worth re-running a transaction for: serialization_failure, deadlock_detected.
RETRY_SQLSTATES = ("40001", "40P01")


def is_retriable(error: BaseException) -> bool:
    """Whether ``error`` is a transient conflict that a fresh transaction may not hit:
    PostgreSQL's serialization failure (40001) or deadlock (40P01), SQLite's "database
    is locked". Anything else (constraint violations, bad input, lost connections) is
    not."""
    orig = getattr(error, "orig", None) or error
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in RETRY_SQLSTATES:
        return True
    import sqlite3
    return (isinstance(orig, sqlite3.OperationalError)
            and "database is locked" in str(orig))


def in_transaction() -> bool:
    """Whether this thread is inside a :meth:`Database.session`."""
    return getattr(_tls, "depth", 0) > 0


def writes_committed() -> int:
    """How many write transactions this thread has committed so far."""
    return getattr(_tls, "writes", 0)


def retrying(fn=None, *, attempts: int = 5, first_delay_s: float = 0.02,
             max_delay_s: float = 1.0):
    """Decorator: re-run ``fn`` when it raises a retriable conflict
    (:func:`is_retriable`), as oslo.db's ``wrap_db_retry`` does, at most ``attempts``
    times in all, sleeping ``first_delay_s`` doubling up to ``max_delay_s`` (with
    jitter) in between.

    ``fn`` is re-run only when that is safe: it must have started outside any
    transaction (inside one, the error goes up to whoever opened it: the whole
    transaction is what must run again), and it must not have committed a write
    transaction before the one that failed (re-running it would repeat that write).
    In every other case the error is raised as it is. The last error is raised once
    the attempts are spent."""
    if fn is None:
        return functools.partial(retrying, attempts=attempts, first_delay_s=first_delay_s,
                                 max_delay_s=max_delay_s)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        delay = first_delay_s
        for attempt in range(1, attempts + 1):
            outer = in_transaction()
            before = writes_committed()
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                if (attempt == attempts or outer or writes_committed() != before
                        or not is_retriable(e)):
                    raise
                LOG.info("retrying %s after a database conflict (attempt %d of %d): %r",
                         getattr(fn, "__qualname__", fn), attempt, attempts,
                         getattr(e, "orig", e))
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, max_delay_s)
    wrapper.__wrapped_retrying__ = True
    return wrapper


class Prepared:
    """A hot Core statement run straight on the DB-API cursor of a session's
    connection.

    SQLAlchemy's per-execution work (execution context, parameter and result
    processing, result metadata) costs ~15 us of the ~20 us a one-row statement takes
    on SQLite; for the statements every networking write runs, that is a tenth of a
    request. The statement is compiled once per dialect, and only used this way when
    it needs no type processing: every bound parameter and returned column is a
    string or an integer (anything else runs through SQLAlchemy as usual). Rows are
    plain tuples in the order of the statement's columns.
    """

    _PLAIN = (sa.String, sa.Integer, sa.types.NullType)

    def __init__(self, stmt):
        self.stmt = stmt
        self._by_dialect: dict[str, tuple | None] = {}

    def _compile(self, dialect) -> tuple | None:
        compiled = self.stmt.compile(dialect=dialect)
        binds = compiled.bind_names
        columns = list(self.stmt.exported_columns)
        plain = ("POSTCOMPILE" not in compiled.string
                 and all(self._is_plain(b.type) for b in binds)
                 and all(self._is_plain(c.type) for c in columns))
        entry = None
        if plain:
            defaults = {name: b.effective_value for b, name in binds.items()
                        if not b.required}
            entry = (compiled.string, compiled.positiontup if compiled.positional
                     else None, defaults)
        self._by_dialect[dialect.name] = entry
        return entry

    @classmethod
    def _is_plain(cls, type_) -> bool:
        return isinstance(type_, cls._PLAIN) and not isinstance(type_, sa.Enum)

    def run(self, session: orm.Session, params: dict | list[dict] | None = None) -> list:
        """Execute with ``params`` (a list: executemany); returns the rows."""
        conn = session.connection()
        name = conn.dialect.name
        entry = (self._by_dialect[name] if name in self._by_dialect
                 else self._compile(conn.dialect))
        if entry is None:
            result = conn.execute(self.stmt, params)
            return [tuple(r) for r in result] if result.returns_rows else []
        sql, names, defaults = entry
        many = isinstance(params, list)

        def bind(p):
            full = {**defaults, **p} if defaults else p
            return [full[n] for n in names] if names is not None else full
        cursor = conn.connection.cursor()
        try:
            if many:
                cursor.executemany(sql, [bind(p) for p in params])
                return []
            cursor.execute(sql, bind(params or {}))
            return cursor.fetchall() if cursor.description is not None else []
        finally:
            cursor.close()

    def first(self, session: orm.Session, params: dict | None = None) -> tuple | None:
        rows = self.run(session, params)
        return rows[0] if rows else None

    def scalar(self, session: orm.Session, params: dict | None = None):
        row = self.first(session, params)
        return row[0] if row is not None else None


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


def _sqlite_begin_deferred(_session, transaction, conn) -> None:
    if not transaction.nested:
        conn.exec_driver_sql("BEGIN")


def _sqlite_begin_immediate(_session, transaction, conn) -> None:
    # BEGIN IMMEDIATE takes the write lock at the start, so two concurrent writers
    # serialize instead of one failing with "database is locked" on upgrade.
    if not transaction.nested:
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
