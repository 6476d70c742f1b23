"""Request bodies of the Block Storage API as JSON Schema, with Cinder's bounds
(``cinder/api/schemas`` and ``validation/parameter_types``): sizes are integers (or
strings of digits, as Cinder's ``volume_size`` allows) from 1 to 2^31-1; names and
descriptions up to 255 characters; metadata keys 1-255 and values up to 255."""
from __future__ import annotations

MAX_INT = 2 ** 31 - 1

NAME = {"type": ["string", "null"], "maxLength": 255}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
#: A size in GiB, 1..MAX_INT: an integer or its digits as a string (Cinder accepts
#: both; "0" is as invalid as 0).
SIZE = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_INT},
                  {"type": "string", "pattern": r"^0*[1-9][0-9]{0,9}$", "maxLength": 20}]}
SIZE_OR_NULL = {"oneOf": [SIZE, {"type": "null"}]}
UUID = {"type": "string", "minLength": 1, "maxLength": 255}
UUID_OR_NULL = {"type": ["string", "null"], "maxLength": 255}
METADATA = {"type": ["object", "null"],
            "patternProperties": {"^.{1,255}$": {"type": "string", "maxLength": 255}},
            "additionalProperties": False}
METADATA_REQUIRED = {**METADATA, "type": "object"}
BOOL = {"oneOf": [{"type": "boolean"},
                  {"type": "string", "enum": ["true", "false", "True", "False", "1", "0",
                                              "yes", "no", "on", "off", "y", "n", "t",
                                              "f"]}]}


def obj(props: dict, required: list[str] = (), additional: bool = False) -> dict:
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": additional}


CREATE_VOLUME = obj({
    "volume": obj({
        "name": NAME, "display_name": NAME, "description": DESCRIPTION,
        "display_description": DESCRIPTION, "size": SIZE_OR_NULL,
        "availability_zone": {"type": ["string", "null"], "maxLength": 255},
        "source_volid": UUID_OR_NULL, "snapshot_id": UUID_OR_NULL,
        "imageRef": UUID_OR_NULL, "image_id": UUID_OR_NULL, "backup_id": UUID_OR_NULL,
        "volume_type": {"type": ["string", "null"], "maxLength": 255},
        "metadata": METADATA, "multiattach": BOOL,
        "consistencygroup_id": UUID_OR_NULL, "group_id": UUID_OR_NULL,
    }, additional=True),
    "OS-SCH-HNT:scheduler_hints": {"type": ["object", "null"]},
}, ["volume"])

UPDATE_VOLUME = obj({"volume": obj({
    "name": NAME, "display_name": NAME, "description": DESCRIPTION,
    "display_description": DESCRIPTION, "metadata": METADATA})}, ["volume"])

METADATA_BODY = obj({"metadata": METADATA_REQUIRED}, ["metadata"])
META_ITEM = obj({"meta": {**METADATA_REQUIRED, "minProperties": 1, "maxProperties": 1}},
                ["meta"])

EXTEND = obj({"new_size": SIZE}, ["new_size"])
RESET_STATUS = obj({"status": {"type": "string", "maxLength": 255},
                    "attach_status": {"type": "string", "maxLength": 255},
                    "migration_status": {"type": "string", "maxLength": 255}})
BOOTABLE = obj({"bootable": BOOL}, ["bootable"])
READONLY = obj({"readonly": BOOL}, ["readonly"])
IMAGE_METADATA = obj({"metadata": METADATA_REQUIRED}, ["metadata"])
UNSET_IMAGE_METADATA = obj({"key": {"type": "string", "minLength": 1, "maxLength": 255}},
                           ["key"])
MIGRATE = obj({"host": {"type": "string", "minLength": 1, "maxLength": 255},
               "force_host_copy": BOOL, "lock_volume": BOOL}, ["host"])
RETYPE = obj({"new_type": {"type": "string", "minLength": 1, "maxLength": 255},
              "migration_policy": {"type": ["string", "null"],
                                   "enum": ["never", "on-demand", None]}}, ["new_type"])
UPLOAD_IMAGE = obj({
    "image_name": {"type": "string", "minLength": 1, "maxLength": 255},
    "force": BOOL, "disk_format": {"type": "string", "enum": [
        "raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "ploop"]},
    "container_format": {"type": "string", "enum": ["bare"]},
    "visibility": {"type": "string", "enum": ["public", "private", "shared",
                                              "community"]},
    "protected": BOOL}, ["image_name"])
NOARG = {"type": ["object", "null"]}

TYPE_CREATE = obj({"volume_type": obj({
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": DESCRIPTION,
    "os-volume-type-access:is_public": BOOL,
    "extra_specs": METADATA})}, ["volume_type"])
TYPE_UPDATE = obj({"volume_type": obj({
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "description": DESCRIPTION, "is_public": BOOL})}, ["volume_type"])
EXTRA_SPECS = obj({"extra_specs": METADATA_REQUIRED}, ["extra_specs"])
TYPE_ACCESS = obj({"project": {"type": "string", "minLength": 1, "maxLength": 255}},
                  ["project"])

CREATE_SNAPSHOT = obj({"snapshot": obj({
    "name": NAME, "display_name": NAME, "description": DESCRIPTION,
    # null is allowed, as in Cinder's schema: the volume is then not found (404)
    "display_description": DESCRIPTION, "volume_id": {"oneOf": [UUID, {"type": "null"}]},
    "force": BOOL, "metadata": METADATA}, ["volume_id"])}, ["snapshot"])
UPDATE_SNAPSHOT = obj({"snapshot": obj({
    "name": NAME, "display_name": NAME, "description": DESCRIPTION,
    "display_description": DESCRIPTION})}, ["snapshot"])

CREATE_BACKUP = obj({"backup": obj({
    "volume_id": UUID, "container": {"type": ["string", "null"], "maxLength": 255},
    "description": DESCRIPTION, "incremental": BOOL, "force": BOOL, "name": NAME,
    "snapshot_id": UUID_OR_NULL, "metadata": METADATA,
    "availability_zone": {"type": ["string", "null"], "maxLength": 255}},
    ["volume_id"])}, ["backup"])
UPDATE_BACKUP = obj({"backup": obj({"name": NAME, "description": DESCRIPTION,
                                    "metadata": METADATA})}, ["backup"])
RESTORE = obj({"restore": {"type": ["object", "null"], "properties": {
    "volume_id": UUID_OR_NULL, "name": NAME}, "additionalProperties": False}},
    ["restore"])
IMPORT_RECORD = obj({"backup-record": obj({
    "backup_service": {"type": "string", "maxLength": 255},
    "backup_url": {"type": "string", "maxLength": 65535}},
    ["backup_service", "backup_url"])}, ["backup-record"])

QUOTA_VALUE = {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$", "maxLength": 11}
QUOTA_SET = obj({"quota_set": {"type": "object", "additionalProperties": QUOTA_VALUE}},
                ["quota_set"])
QUOTA_CLASS_SET = obj({"quota_class_set": {"type": "object",
                                           "additionalProperties": QUOTA_VALUE}},
                      ["quota_class_set"])

#: ``volume_uuid`` is the reference's name (what python-cinderclient sends);
#: ``volume_id`` is openstacksdk's: either names the volume, one is required.
ATTACHMENT_CREATE = obj({"attachment": {**obj({
    "volume_uuid": UUID, "volume_id": UUID, "instance_uuid": UUID_OR_NULL,
    "connector": {"type": ["object", "null"]},
    "mode": {"type": "string", "enum": ["rw", "ro"]}}),
    "anyOf": [{"required": ["volume_uuid"]}, {"required": ["volume_id"]}]}},
    ["attachment"])
ATTACHMENT_UPDATE = obj({"attachment": obj({"connector": {"type": "object"}},
                                           ["connector"])}, ["attachment"])

TRANSFER_CREATE = obj({"transfer": obj({"volume_id": UUID, "name": NAME,
                                        "no_snapshots": BOOL}, ["volume_id"])},
                      ["transfer"])
TRANSFER_ACCEPT = obj({"accept": obj({"auth_key": {"type": "string", "minLength": 1,
                                                   "maxLength": 255}}, ["auth_key"])},
                      ["accept"])


def as_bool(value) -> bool:
    """A Cinder boolean (``True``, ``"true"``, ``"1"``, ``"yes"``...)."""
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1", "yes", "on", "y", "t")


#: Block Storage API v3 "Manage an existing volume" (``os-volume-manage`` and
#: ``manageable_volumes``).
MANAGE_VOLUME = obj({
    "volume": obj({
        "host": {"type": ["string", "null"], "maxLength": 255},
        "cluster": {"type": ["string", "null"], "maxLength": 255},
        "ref": {"type": "object"},
        "name": NAME, "description": DESCRIPTION,
        "volume_type": {"type": ["string", "null"], "maxLength": 255},
        "availability_zone": {"type": ["string", "null"], "maxLength": 255},
        "bootable": {"oneOf": [BOOL, {"type": "null"}]}, "metadata": METADATA,
    }, ["ref"]),
}, ["volume"])
