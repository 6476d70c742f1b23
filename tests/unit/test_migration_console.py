"""Migration ``0010_compute_console``: console text moves from ``compute_instance`` to
``compute_console`` (SQLite always, PostgreSQL when ``KUMO_TEST_PG_URL`` is set)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kumo.compute.models import Console, Instance
from kumo.db import upgrade


def _instance(iid: str, console: str | None) -> dict:
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    return {"id": iid, "project_id": "p", "user_id": "u", "display_name": "s",
            "hostname": "s", "vm_state": "active", "power_state": 1, "image_id": "",
            "image": "{}", "flavor": "{}", "vcpus": 1, "memory_mb": 64, "root_gb": 1,
            "meta": "{}", "tags": "[]", "security_groups": "[]", "ports": "[]",
            "tried_hosts": "[]", "scheduler_hints": "{}", "locked": False,
            "reservation_id": "r-1", "launch_index": 0, "reboot_seq": 0,
            "reboot_type": "SOFT", "rebuild_seq": 0, "power": "on", "revision": 1,
            "console": console, "deleted": False, "created_at": now, "updated_at": now}


def test_console_text_moves_to_its_own_table(db_url):
    upgrade(db_url, "0008_compute")
    engine = sa.create_engine(db_url)
    try:
        table = sa.Table("compute_instance", sa.MetaData(), autoload_with=engine)
        text = "cirros-init: up\n" + "x" * 65000 + "\nlogin:"
        with engine.begin() as conn:
            conn.execute(table.insert(), [_instance("i-with", text),
                                          _instance("i-without", None)])
        engine.dispose()
        upgrade(db_url, "heads")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(Console.__table__)).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("compute_instance")}
            count = conn.execute(sa.text("SELECT count(*) FROM compute_instance")).scalar()
        assert [(r[0], r[1]) for r in rows] == [("i-with", text)]
        assert rows[0][2] == dt.datetime(2026, 1, 2, 3, 4, 5)
        assert "console" not in columns and count == 2
    finally:
        engine.dispose()


def test_server_rows_do_not_select_console():
    """The instance model (what server lists and shows load) has no console column,
    so no server list's SQL selects it."""
    assert "console" not in Instance.__table__.c
    sql = str(sa.select(Instance).compile())
    assert "console" not in sql
