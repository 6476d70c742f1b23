"""Compute API resources defined as data (:mod:`kumo.common.resource`), as the
Networking API's are in :mod:`kumo.network.definitions`: a flavor's attributes, their
request schemas (Nova's ``flavor_manage`` bounds), who sees them (microversions,
policy) and how they render. Lists keep Nova's own parameters
(``minDisk``/``minRam``/``is_public``, :mod:`kumo.compute.flavors`).
"""
from __future__ import annotations

from kumo.common.resource import Attr, Resource, copy
from kumo.compute import schemas
from kumo.compute.models import Flavor

#: Who may read a flavor's extra specs (Nova's policy name).
EXTRA_SPECS_READ = "os_compute_api:os-flavor-extra-specs:index"
FLAVOR_ID = {"type": ["string", "integer", "null"], "minLength": 1, "maxLength": 255,
             "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"}
RXTX_FACTOR = {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
               "exclusiveMinimum": 0, "maximum": schemas.SQL_SP_FLOAT_MAX}


def since(version: str):
    """``when``: shown from microversion ``version`` on (``extras["at_least"]``)."""
    return lambda extras: extras["at_least"](version)


def _swap(row, extras):
    # before 2.75 a flavor without swap shows "" (Nova's flavor view builder)
    return row.swap if (row.swap or extras["at_least"]("2.75")) else ""


#: Attributes in the create body's order, then the ones only shown.
FLAVOR = Resource(
    "flavor", "flavors", Flavor,
    attrs=[
        Attr("name", schemas.NAME, create=True, required=True, column="name"),
        Attr("id", FLAVOR_ID, create=True, column="id"),
        Attr("ram", schemas.FLAVOR_POS, create=True, required=True, column="ram"),
        Attr("vcpus", schemas.FLAVOR_POS, create=True, required=True, column="vcpus"),
        Attr("disk", schemas.FLAVOR_NONNEG, create=True, required=True, column="disk"),
        Attr("OS-FLV-EXT-DATA:ephemeral", schemas.FLAVOR_NONNEG, create=True,
             column="ephemeral"),
        Attr("swap", schemas.FLAVOR_NONNEG, create=True, render=_swap),
        Attr("rxtx_factor", RXTX_FACTOR, create=True, column="rxtx_factor"),
        Attr("os-flavor-access:is_public", schemas.BOOLEAN, create=True,
             column="is_public"),
        Attr("description", schemas.FLAVOR_DESCRIPTION, create=True, update=True,
             column="description", when=since("2.55")),
        Attr("links", render=lambda row, extras: extras["links"](row.id)),
        Attr("OS-FLV-DISABLED:disabled", column="disabled"),
        Attr("extra_specs", render=copy("extra_specs", dict),
             when=lambda extras: extras["at_least"]("2.61")
             and extras["can"](EXTRA_SPECS_READ)),
    ])
#: What ``GET /flavors`` (not ``/detail``) shows.
FLAVOR_BRIEF = ("id", "name", "links", "description")
#: The request bodies: ``{"flavor": {...}}``; an update names the description.
FLAVOR_CREATE = {"type": "object", "properties": {"flavor": FLAVOR.create_schema},
                 "required": ["flavor"], "additionalProperties": False}
FLAVOR_UPDATE = {"type": "object", "properties": {"flavor": {
    **FLAVOR.update_schema, "required": ["description"]}},
    "required": ["flavor"], "additionalProperties": False}
