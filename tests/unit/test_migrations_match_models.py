"""The Alembic migrations build exactly the schema the SQLAlchemy models describe.

A fresh database (SQLite always, PostgreSQL when ``KUMO_TEST_PG_URL`` is set) is
upgraded to every head and compared with ``kumo.db.Base.metadata`` by Alembic's
autogenerate (:func:`alembic.autogenerate.compare_metadata`: tables, columns, types,
nullability, server defaults, indexes, unique constraints, foreign keys). Any
difference is drift: a model changed without a migration (or the reverse), which works
on a fresh test database made from the models but breaks an upgraded deployment. The
fix is a migration on the area's branch (``kumo/db/migrations/versions``).
"""
from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import kumo
from kumo.db import Base, upgrade


def _load_models() -> sa.MetaData:
    """Import every module that declares tables: the app (every service, as the server
    builds it) and every ``models`` module, so a table no code path imports yet is
    compared too."""
    importlib.import_module("kumo.app")
    for mod in pkgutil.walk_packages(kumo.__path__, "kumo."):
        parts = mod.name.split(".")
        if "models" in parts and "migrations" not in parts:
            importlib.import_module(mod.name)
    return Base.metadata


def _diff(url: str, metadata: sa.MetaData) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={
                "compare_type": True, "compare_server_default": True})
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def test_migrations_match_the_models(db_url):
    metadata = _load_models()
    assert len(metadata.tables) > 40  # every area's tables were found
    upgrade(db_url, "heads")
    diff = _diff(db_url, metadata)
    assert diff == [], "models and migrations disagree:\n" + "\n".join(map(repr, diff))


def test_the_comparison_sees_drift(tmp_path):
    """The check can fail: a column and a table the migrations lack are reported."""
    url = f"sqlite:///{tmp_path}/kumo.db"
    upgrade(url, "heads")
    metadata = sa.MetaData()
    for table in _load_models().tables.values():
        table.to_metadata(metadata)
    sa.Table("kumo_drift_probe", metadata, sa.Column("id", sa.String(36), primary_key=True))
    metadata.tables["kumo_revision"].append_column(sa.Column("probe", sa.Integer))
    ops = {(d[0], d[1].name if hasattr(d[1], "name") else d[3].name)
           for d in _diff(url, metadata) if isinstance(d, tuple)}
    assert ("add_table", "kumo_drift_probe") in ops
    assert ("add_column", "probe") in ops
