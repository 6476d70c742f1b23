"""Definitions (:class:`~kumo.common.resource.Resource`) of the read-only network
views (:mod:`kumo.network.netviews`): segments and network IP availability. Both read
the ``network`` table: a segment's id is its network's id."""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common.resource import (EXACT, INTEGER, STRING, Attr, Resource, _time, const,
                                  copy, standard, to_int)
from kumo.network.models import core, misc, ports as pmodels

ADMIN = "rule:admin"
N = core.Network

# -- segments -------------------------------------------------------------------------
SEGMENT = Resource(
    "segment", "segments", N,
    actions={"create": ADMIN, "get": ADMIN, "update": ADMIN, "delete": ADMIN},
    attrs=[
        Attr("id", column="id", filter=EXACT, sort=True),
        Attr("network_id", {"type": "string"}, create=True, required=True, column="id",
             filter=EXACT, sort=True),
        Attr("name", STRING, create=True, update=True, render=const(None)),
        Attr("description", STRING, create=True, update=True, render=const(None)),
        Attr("network_type", {"type": "string"}, create=True, column="network_type",
             filter=EXACT, sort=True),
        Attr("physical_network", {"type": ["string", "null"]}, create=True,
             column="physical_network", filter=EXACT, sort=True),
        Attr("segmentation_id", {"type": ["integer", "string", "null"]}, create=True,
             column="segmentation_id", filter=INTEGER, sort=True,
             convert=to_int("segmentation_id")),
        Attr("created_at", column="created_at", render=_time("created_at")),
        Attr("updated_at", column="updated_at", render=_time("updated_at")),
        Attr("revision_number", column="revision_number"),
    ])


# -- network IP availability ----------------------------------------------------------
def _ip_version_filter(stmt, values: list[str]):
    """``ip_version=4``: networks with a subnet of that version (their other subnets
    are left out of ``subnet_ip_availability`` by the API module)."""
    versions = [int(v) for v in values if v in ("4", "6")]
    S = pmodels.Subnet
    return stmt.where(N.id.in_(sa.select(S.network_id).where(S.ip_version.in_(versions))))


def _usage(key: str):
    def render(row, extras):
        subnets = extras["usage"].get(row.id, [])
        if key == "subnet_ip_availability":
            return subnets
        return sum(s[key] for s in subnets)
    return render


IP_AVAILABILITY = Resource(
    "network_ip_availability", "network_ip_availabilities", N,
    actions={"get": ADMIN},
    attrs=[
        Attr("id", column="id", sort=True, read=False),  # the list's tie-breaker
        Attr("network_id", column="id", filter=EXACT, sort=True),
        Attr("network_name", column="name", filter=EXACT, sort=True),
        Attr("project_id", column="project_id", filter=EXACT, sort=True),
        Attr("tenant_id", column="project_id", filter=EXACT, sort=True),
        Attr("ip_version", filter=_ip_version_filter, read=False),
        Attr("total_ips", render=_usage("total_ips")),
        Attr("used_ips", render=_usage("used_ips")),
        Attr("subnet_ip_availability", render=_usage("subnet_ip_availability")),
    ])

# -- address groups -------------------------------------------------------------------
MEMBER = "rule:admin or rule:project_member"
ADDRESS_GROUP = Resource(
    "address_group", "address_groups", misc.AddressGroup,
    actions={"create": MEMBER, "get": "@", "update": MEMBER, "delete": MEMBER,
             "add_addresses": MEMBER, "remove_addresses": MEMBER},
    attrs=standard(tags=False) + [
        Attr("addresses", {"type": "array", "items": {"type": "string"}}, create=True,
             render=copy("addresses")),
    ])

ALL: dict[str, Resource] = {r.collection: r for r in (SEGMENT, IP_AVAILABILITY,
                                                      ADDRESS_GROUP)}
