"""Request bodies of the Compute API as JSON Schema (after Nova's own schemas in
nova/api/openstack/compute/schemas)."""
from __future__ import annotations

NAME = {"type": "string", "minLength": 1, "maxLength": 255}
NULLABLE_NAME = {"type": ["string", "null"], "maxLength": 255}
#: Nova's ``OS-DCF:diskConfig`` (create, update, rebuild, resize)
DISK_CONFIG = {"type": "string", "enum": ["AUTO", "MANUAL"]}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
#: A flavor's description is a TEXT column (flavor_manage.flavor_description).
FLAVOR_DESCRIPTION = {"type": ["string", "null"], "maxLength": 65535}
IPV4 = {"type": "string", "format": "ipv4"}
IPV6 = {"type": "string", "format": "ipv6"}
#: Nova's ``db.constants.MAX_INT``: integer columns are 32-bit.
MAX_INT = 0x7FFFFFFF
#: Nova's ``db.constants.SQL_SP_FLOAT_MAX``: a single-precision float column.
SQL_SP_FLOAT_MAX = 3.40282e+38
#: Nova's ``parameter_types.boolean``: a JSON boolean or one of its strings.
TRUE_STRINGS = ("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes")
FALSE_STRINGS = ("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")
BOOLEAN = {"type": ["boolean", "string"],
           "enum": [True, False, *TRUE_STRINGS, *FALSE_STRINGS]}


#: ``config_drive`` of a server create: Nova's ``parameter_types.boolean``.
CONFIG_DRIVE = BOOLEAN


def as_bool(value) -> bool:
    """A :data:`BOOLEAN` value as a bool (oslo's ``bool_from_string`` strict)."""
    return value in TRUE_STRINGS if isinstance(value, str) else bool(value)


POS_INT = {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1}
NONNEG_INT = {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 0}
#: parameter_types.flavor_param_positive / _non_negative (Nova's volume_size).
FLAVOR_POS = {**POS_INT, "maximum": MAX_INT}
FLAVOR_NONNEG = {**NONNEG_INT, "maximum": MAX_INT}
METADATA = {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}
TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"^[^,/]*$"}


def _obj(props: dict, required=(), extra=False) -> dict:
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": extra}


# FLAVOR_CREATE / FLAVOR_UPDATE are derived from the flavor's definition
# (kumo.compute.definitions).
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
    "key_name": NAME, "user_data": {"type": "string", "maxLength": 65535},
    "metadata": METADATA, "availability_zone": NAME,
    "min_count": POS_INT, "max_count": POS_INT, "return_reservation_id": {
        "type": ["boolean", "string"]},
    "tags": {"type": "array", "items": TAG, "maxItems": 50},
    "config_drive": CONFIG_DRIVE, "description": DESCRIPTION,
    "adminPass": {"type": "string"}, "accessIPv4": IPV4,
    "accessIPv6": IPV6, "OS-DCF:diskConfig": DISK_CONFIG,
    "block_device_mapping_v2": {"type": "array"}, "hostname": {"type": "string"},
    "personality": {"type": "array"}, "host": {"type": "string"},
    "hypervisor_hostname": {"type": "string"},
    "trusted_image_certificates": {"type": ["array", "null"]}},
    ["name", "flavorRef"]),
    "os:scheduler_hints": {"type": "object"}, "OS-SCH-HNT:scheduler_hints": {
        "type": "object"}}, ["server"])
SERVER_UPDATE = _obj({"server": _obj({
    "name": NAME, "description": DESCRIPTION, "hostname": {"type": "string"},
    "accessIPv4": IPV4, "accessIPv6": IPV6,
    "OS-DCF:diskConfig": DISK_CONFIG})}, ["server"])

SERVER_GROUP_CREATE = _obj({"server_group": _obj({
    "name": NAME, "policies": {"type": "array", "minItems": 1, "maxItems": 1,
                               "items": {"type": "string", "enum": [
                                   "affinity", "anti-affinity", "soft-affinity",
                                   "soft-anti-affinity"]}},
    "policy": {"type": "string", "enum": ["affinity", "anti-affinity", "soft-affinity",
                                          "soft-anti-affinity"]},
    "rules": _obj({"max_server_per_host": POS_INT})}, ["name"])}, ["server_group"])

# -- server actions (nova/api/openstack/compute/schemas: servers, console_output,
# lock_server): each validates the whole ``{action: argument}`` body.
REBOOT = _obj({"reboot": _obj({"type": {"type": "string", "enum": [
    "HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}}, ["type"])}, ["reboot"])
RESIZE = _obj({"resize": _obj({
    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
    "OS-DCF:diskConfig": DISK_CONFIG},
    ["flavorRef"])}, ["resize"])
CREATE_IMAGE = _obj({"createImage": _obj({"name": NAME, "metadata": METADATA},
                                         ["name"])}, ["createImage"])
CONSOLE_OUTPUT = _obj({"os-getConsoleOutput": _obj({"length": {
    # -1 (and null) is the whole log
    "type": ["integer", "string", "null"], "pattern": r"^-?[0-9]+$", "minimum": -1}})},
    ["os-getConsoleOutput"])
LOCK = _obj({"lock": {"type": ["object", "null"], "properties": {
    "locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False}}, ["lock"])
REBUILD = _obj({"rebuild": _obj({
    "name": NAME, "imageRef": {"type": "string"}, "adminPass": {"type": "string"},
    "metadata": METADATA, "preserve_ephemeral": {"type": ["boolean", "string"]},
    "OS-DCF:diskConfig": DISK_CONFIG,
    "accessIPv4": IPV4, "accessIPv6": IPV6, "personality": {"type": "array"},
    "description": DESCRIPTION, "key_name": {"type": ["string", "null"],
                                             "minLength": 1, "maxLength": 255},
    "user_data": {"type": ["string", "null"], "maxLength": 65535},
    "trusted_image_certificates": {"type": ["array", "null"]},
    "hostname": {"type": "string", "minLength": 1, "maxLength": 255}},
    ["imageRef"])}, ["rebuild"])

METADATA_BODY = _obj({"metadata": METADATA}, ["metadata"])
META_ONE = _obj({"meta": {**METADATA, "minProperties": 1, "maxProperties": 1}}, ["meta"])
TAGS_BODY = _obj({"tags": {"type": "array", "items": TAG, "maxItems": 50}}, ["tags"])
INTERFACE_CREATE = _obj({"interfaceAttachment": _obj({
    "net_id": {"type": "string"}, "port_id": {"type": "string"},
    "fixed_ips": {"type": "array", "maxItems": 1, "items": _obj({
        "ip_address": {"type": "string"}}, ["ip_address"])}, "tag": {"type": "string"}})},
    ["interfaceAttachment"])

QUOTA_UPDATE = _obj({"quota_set": {"type": "object", "properties": {
    # -1 is unlimited; the maximum is Nova's MAX_INT (quota_sets._common_quota)
    k: {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$", "minimum": -1,
        "maximum": MAX_INT} for k in (
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
    "host_ip": {"type": ["string", "null"]},
    # for the hypervisor uptime (absent from an older agent: not reported)
    "boot_time": {"type": ["integer", "null"], "minimum": 0,  # seconds since the epoch
                  "maximum": 253402300799},  # 9999-12-31T23:59:59Z
    "load_average": {"type": ["array", "null"], "minItems": 3, "maxItems": 3,
                     "items": {"type": "number", "minimum": 0, "maximum": 1e6}},
    "users": {"type": ["integer", "null"], "minimum": 0, "maximum": 2 ** 31 - 1}},
    ["host"], extra=True)
_COUNT = {"type": ["integer", "null"], "minimum": 0}
_NIC_KEYS = ("rx_octets", "rx_packets", "rx_errors", "rx_drop", "tx_octets", "tx_packets",
             "tx_errors", "tx_drop")
_DISK_KEYS = ("read_bytes", "read_requests", "write_bytes", "write_requests",
              "errors_count")
#: An agent's diagnostics counters (kumo.agent.virt.ComputeDriver.diagnostics).
DIAGNOSTICS = _obj({
    "started_at": {"type": ["number", "null"], "minimum": 0},
    "cpu_time_ns": _COUNT,
    "vcpu_times_ns": {"type": "array", "items": _COUNT, "maxItems": 1024},
    "memory_used_bytes": _COUNT, "memory_max_bytes": _COUNT, "memory_rss_bytes": _COUNT,
    "nics": {"type": "array", "maxItems": 64, "items": _obj(
        {"port_id": {"type": "string", "maxLength": 36},
         **{k: _COUNT for k in _NIC_KEYS}}, ["port_id"])},
    "disks": {"type": "array", "maxItems": 64, "items": _obj(
        {"name": {"type": "string", "pattern": "^[a-z]{2,4}[0-9]{0,3}$"},
         **{k: _COUNT for k in _DISK_KEYS}}, ["name"])}})
STATUS = _obj({
    "host": {"type": "string"}, "power_state": {"type": "string", "enum": [
        "running", "shutdown", "paused", "crashed", "nostate"]},
    "reboot_seq": {"type": "integer"}, "rebuild_seq": {"type": "integer"},
    "error": {"type": ["string", "null"]}, "console": {"type": ["string", "null"]},
    "volumes": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
    "diagnostics": {"anyOf": [{"type": "null"}, DIAGNOSTICS]}},
    ["host"], extra=True)
SNAPSHOT_FAILED = _obj({"host": {"type": "string", "minLength": 1, "maxLength": 255},
                       "error": {"type": "string", "maxLength": 65536}},
                      ["host", "error"])
