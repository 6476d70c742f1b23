"""Migration ``0013_network_l3_ha``: the router/L3 agent bindings get the primary key
``(router_id, l3_agent_id)`` and ``ha_state``, existing bindings kept; the HA network
and VRID tables appear; the downgrade keeps one binding per router (SQLite always,
PostgreSQL when ``KUMO_TEST_PG_URL`` is set)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command

from kumo.db import alembic_config, upgrade

NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


def _std(i: str, **extra) -> dict:
    return {"id": i, "project_id": "p", "name": i, "description": "",
            "created_at": NOW, "updated_at": NOW, "revision_number": 1, **extra}


def test_bindings_kept_and_ha_tables(db_url):  # noqa: F811
    upgrade(db_url, "0007_network_l3_agent")
    upgrade(db_url, "0004_network_security")
    engine = sa.create_engine(db_url)
    try:
        md = sa.MetaData()
        router = sa.Table("network_router", md, autoload_with=engine)
        agent = sa.Table("network_agent", md, autoload_with=engine)
        binding = sa.Table("network_router_l3_agent", md, autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(router.insert(), [_std("r1", admin_state_up=True, status="ACTIVE",
                                                enable_snat=True, routes=[],
                                                distributed=False, ha=False,
                                                availability_zone_hints=[])])
            cols = {c.name for c in agent.c}
            row = {"id": "a1", "agent_type": "L3 agent", "binary": "neutron-l3-agent",
                   "topic": "l3_agent", "host": "h1", "admin_state_up": True,
                   "configurations": {}, "created_at": NOW, "started_at": NOW,
                   "heartbeat_timestamp": NOW, "description": "",
                   "availability_zone": "nova", "resources_synced": None}
            conn.execute(agent.insert(), [{k: v for k, v in row.items() if k in cols},
                                          {**{k: v for k, v in row.items() if k in cols},
                                           "id": "a2", "host": "h2"}])
            conn.execute(binding.insert(), [{"router_id": "r1", "l3_agent_id": "a1"}])
        engine.dispose()
        upgrade(db_url, "heads")
        with engine.begin() as conn:
            insp = sa.inspect(conn)
            assert insp.get_pk_constraint("network_router_l3_agent")[
                "constrained_columns"] == ["router_id", "l3_agent_id"]
            assert "ha_state" in {c["name"] for c in insp.get_columns(
                "network_router_l3_agent")}
            assert {"network_ha_router_network", "network_ha_router_vrid"} <= set(
                insp.get_table_names())
            rows = conn.execute(sa.text("SELECT router_id, l3_agent_id, ha_state FROM "
                                        "network_router_l3_agent")).all()
            assert [tuple(r) for r in rows] == [("r1", "a1", None)]
            conn.execute(sa.text("INSERT INTO network_router_l3_agent (router_id, "
                                 "l3_agent_id, ha_state) VALUES ('r1', 'a2', 'active')"))
        engine.dispose()
        # below 0013 (and what builds on it, 0017; 0014 branches from 0007 too)
        command.downgrade(alembic_config(db_url), "0007_network_l3_agent")
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            assert "network_ha_router_vrid" not in insp.get_table_names()
            rows = conn.execute(sa.text("SELECT router_id, l3_agent_id FROM "
                                        "network_router_l3_agent")).all()
            assert [tuple(r) for r in rows] == [("r1", "a1")]
    finally:
        engine.dispose()
