"""Quota classes (Compute API "Quota class sets (os-quota-class-sets)"), admin only:
``GET /v2.1/os-quota-class-sets/{id}`` and ``PUT`` with ``{"quota_class_set":
{resource: limit}}``.

As in Nova only the ``default`` class matters: its compute resources (cores,
instances, ram, key_pairs, metadata_items, server_groups, server_group_members) are the
default limits of every project without its own (``os-quota-sets``). Any other class,
and the legacy keys, are stored and shown back but change nothing (Nova's network
proxies with Neutron; file injection is gone). The keys shown follow Nova's
microversions: before 2.50 no server group keys, from 2.50 no network keys, from 2.57
no file injection keys; the PUT body takes the same keys (400 otherwise). The logic is
:meth:`kumo.compute.quotas.Quotas.class_values` / ``update_class``."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.compute.api import at_least, service
from kumo.compute.schemas import MAX_INT

P = "os_compute_api:os-quota-class-sets:"
register([RuleDefault(P + "show", "rule:admin"), RuleDefault(P + "update", "rule:admin")])

_ALL = ("instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items",
        "key_pairs", "security_groups", "security_group_rules", "injected_files",
        "injected_file_content_bytes", "injected_file_path_bytes", "server_groups",
        "server_group_members")
_NETWORK = ("fixed_ips", "floating_ips", "security_group_rules", "security_groups")
_INJECTED = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
_GROUPS = ("server_groups", "server_group_members")


def _keys(req: Request) -> tuple[str, ...]:
    if at_least(req, "2.57"):
        hidden = _NETWORK + _INJECTED
    elif at_least(req, "2.50"):
        hidden = _NETWORK
    else:
        hidden = _GROUPS
    return tuple(k for k in _ALL if k not in hidden)


def _body(req: Request, values: dict) -> dict:
    return {k: values[k] for k in _keys(req) if k in values}


@service.route("GET", "/v2.1/os-quota-class-sets/{class_name}")
def show(req: Request) -> Reply:
    req.context.enforce(P + "show", {})
    compute = req.cloud.compute
    name = req.params["class_name"]
    with compute.read() as s:
        values = compute.quotas.class_values(s, name)
    return Reply(200, {"quota_class_set": {"id": name, **_body(req, values)}})


@service.route("PUT", "/v2.1/os-quota-class-sets/{class_name}")
def update(req: Request) -> Reply:
    req.context.enforce(P + "update", {})
    limit = {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$", "minimum": -1,
             "maximum": MAX_INT}
    schema = {"type": "object", "properties": {"quota_class_set": {
        "type": "object", "properties": {k: limit for k in _keys(req)},
        "additionalProperties": False}}, "required": ["quota_class_set"],
        "additionalProperties": False}
    values = req.json(schema)["quota_class_set"]
    done = req.cloud.compute.quotas.update_class(req.params["class_name"], values)
    return Reply(200, {"quota_class_set": _body(req, done)})
