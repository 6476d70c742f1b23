"""Request bodies of the Compute API as JSON Schema (after Nova's own schemas in
nova/api/openstack/compute/schemas)."""
from __future__ import annotations

NAME = {"type": "string", "minLength": 1, "maxLength": 255}
NULLABLE_NAME = {"type": ["string", "null"], "maxLength": 255}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
POS_INT = {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1}
NONNEG_INT = {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 0}
METADATA = {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}
TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"^[^,/]*$"}


def _obj(props: dict, required=(), extra=False) -> dict:
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": extra}


FLAVOR_CREATE = _obj({"flavor": _obj({
    "name": NAME, "id": {"type": ["string", "integer", "null"],
                         "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
    "ram": POS_INT, "vcpus": POS_INT, "disk": NONNEG_INT,
    "OS-FLV-EXT-DATA:ephemeral": NONNEG_INT,
    "swap": {"type": ["integer", "string"], "pattern": r"^[0-9]*$"},
    "rxtx_factor": {"type": ["number", "string"], "exclusiveMinimum": 0},
    "os-flavor-access:is_public": {"type": "boolean"}, "description": DESCRIPTION},
    ["name", "ram", "vcpus", "disk"])}, ["flavor"])
FLAVOR_UPDATE = _obj({"flavor": _obj({"description": DESCRIPTION}, ["description"])},
                     ["flavor"])
EXTRA_SPECS = _obj({"extra_specs": {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "number", "boolean"]}},
    "additionalProperties": False}}, ["extra_specs"])
EXTRA_SPEC_ONE = {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "number", "boolean"]}},
    "additionalProperties": False, "minProperties": 1}
_TENANT = _obj({"tenant": {"type": "string", "minLength": 1}}, ["tenant"])
FLAVOR_ACTION = {"type": "object", "oneOf": [
    _obj({"addTenantAccess": _TENANT}, ["addTenantAccess"]),
    _obj({"removeTenantAccess": _TENANT}, ["removeTenantAccess"])]}

KEYPAIR_CREATE = _obj({"keypair": _obj({
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "public_key": {"type": "string"}, "type": {"type": "string", "enum": ["ssh", "x509"]},
    "user_id": {"type": "string"}}, ["name"])}, ["keypair"])

NETWORK = _obj({"uuid": {"type": "string"}, "port": {"type": ["string", "null"]},
                "fixed_ip": {"type": "string"}, "tag": {"type": "string"}})
SERVER_CREATE = _obj({"server": _obj({
    "name": NAME, "imageRef": {"type": "string"}, "flavorRef": {
        "type": ["string", "integer"], "minLength": 1},
    "networks": {"oneOf": [{"type": "array", "items": NETWORK},
                           {"type": "string", "enum": ["auto", "none"]}]},
    "security_groups": {"type": "array", "items": _obj({"name": {"type": "string"}},
                                                        ["name"])},
    "key_name": {"type": "string"}, "user_data": {"type": "string"},
    "metadata": METADATA, "availability_zone": {"type": "string"},
    "min_count": POS_INT, "max_count": POS_INT, "return_reservation_id": {
        "type": ["boolean", "string"]},
    "tags": {"type": "array", "items": TAG, "maxItems": 50},
    "config_drive": {"type": ["boolean", "string"]}, "description": DESCRIPTION,
    "adminPass": {"type": "string"}, "accessIPv4": {"type": "string"},
    "accessIPv6": {"type": "string"}, "OS-DCF:diskConfig": {"type": "string"},
    "block_device_mapping_v2": {"type": "array"}, "hostname": {"type": "string"},
    "personality": {"type": "array"}, "host": {"type": "string"},
    "hypervisor_hostname": {"type": "string"},
    "trusted_image_certificates": {"type": ["array", "null"]}},
    ["name", "flavorRef"]),
    "os:scheduler_hints": {"type": "object"}, "OS-SCH-HNT:scheduler_hints": {
        "type": "object"}}, ["server"])
SERVER_UPDATE = _obj({"server": _obj({
    "name": NAME, "description": DESCRIPTION, "hostname": {"type": "string"},
    "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"},
    "OS-DCF:diskConfig": {"type": "string"}})}, ["server"])

SERVER_GROUP_CREATE = _obj({"server_group": _obj({
    "name": NAME, "policies": {"type": "array", "minItems": 1, "maxItems": 1,
                               "items": {"type": "string", "enum": [
                                   "affinity", "anti-affinity", "soft-affinity",
                                   "soft-anti-affinity"]}},
    "policy": {"type": "string", "enum": ["affinity", "anti-affinity", "soft-affinity",
                                          "soft-anti-affinity"]},
    "rules": _obj({"max_server_per_host": POS_INT})}, ["name"])}, ["server_group"])

METADATA_BODY = _obj({"metadata": METADATA}, ["metadata"])
META_ONE = _obj({"meta": {**METADATA, "minProperties": 1, "maxProperties": 1}}, ["meta"])
TAGS_BODY = _obj({"tags": {"type": "array", "items": TAG, "maxItems": 50}}, ["tags"])
INTERFACE_CREATE = _obj({"interfaceAttachment": _obj({
    "net_id": {"type": "string"}, "port_id": {"type": "string"},
    "fixed_ips": {"type": "array", "maxItems": 1, "items": _obj({
        "ip_address": {"type": "string"}}, ["ip_address"])}, "tag": {"type": "string"}})},
    ["interfaceAttachment"])

QUOTA_UPDATE = _obj({"quota_set": {"type": "object", "properties": {
    k: {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$"} for k in (
        "cores", "instances", "key_pairs", "metadata_items", "ram", "server_groups",
        "server_group_members", "fixed_ips", "floating_ips", "security_groups",
        "security_group_rules", "injected_files", "injected_file_content_bytes",
        "injected_file_path_bytes", "networks")} | {"force": {"type": ["boolean",
                                                                       "string"]}},
    "additionalProperties": False}}, ["quota_set"])

SERVICE_UPDATE = _obj({"status": {"type": "string", "enum": ["enabled", "disabled"]},
                       "disabled_reason": {"type": "string", "maxLength": 255},
                       "forced_down": {"type": "boolean"}})
SERVICE_LEGACY = _obj({"host": {"type": "string"}, "binary": {"type": "string"},
                       "disabled_reason": {"type": "string", "maxLength": 255},
                       "forced_down": {"type": "boolean"}}, ["host", "binary"])

HEARTBEAT = _obj({
    "host": {"type": "string", "minLength": 1, "maxLength": 255},
    "hypervisor_type": {"type": "string"}, "hypervisor_hostname": {"type": "string"},
    "vcpus": {"type": "integer", "minimum": 0}, "memory_mb": {"type": "integer",
                                                              "minimum": 0},
    "local_gb": {"type": "integer", "minimum": 0}, "availability_zone": {
        "type": ["string", "null"]}, "driver": {"type": "string"},
    "host_ip": {"type": ["string", "null"]}}, ["host"], extra=True)
STATUS = _obj({
    "host": {"type": "string"}, "power_state": {"type": "string", "enum": [
        "running", "shutdown", "paused", "crashed", "nostate"]},
    "reboot_seq": {"type": "integer"}, "rebuild_seq": {"type": "integer"},
    "error": {"type": ["string", "null"]}, "console": {"type": ["string", "null"]}},
    ["host"], extra=True)
