"""The Image API v2 schemas (Image API v2 "Schemas": ``/v2/schemas/image``,
``/v2/schemas/images``, ``/v2/schemas/member``, ``/v2/schemas/members``).

They are served as is and are also what requests are validated against: an image
create body and the image after a JSON patch must satisfy :data:`IMAGE` (custom
properties are strings, as ``additionalProperties`` says).
"""
from __future__ import annotations

#: Image API v2 reference: "Disk and container formats".
DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
VISIBILITIES = ["community", "public", "private", "shared"]
STATUSES = ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated"]
MEMBER_STATUSES = ["pending", "accepted", "rejected"]

#: Attributes no request may set (403 "Attribute 'x' is read-only.").
READ_ONLY = {"checksum", "created_at", "direct_url", "file", "os_hash_algo",
             "os_hash_value", "schema", "self", "size", "status", "updated_at",
             "virtual_size", "stores"}
#: Attributes of the image record itself (everything else is a custom property).
CORE = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner", "size",
        "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "disk_format",
        "container_format", "min_disk", "min_ram", "created_at", "updated_at", "tags",
        "self", "file", "schema", "direct_url", "locations", "stores"}
#: Names Glance keeps for itself (403 "Attribute 'x' is reserved.").
RESERVED = {"location", "locations", "deleted", "deleted_at"}
#: Custom properties with this prefix are Glance's own (403 "... is reserved.").
RESERVED_PREFIX = "os_glance"

_NULL_STR = {"type": ["null", "string"], "maxLength": 255}

IMAGE: dict = {
    "name": "image",
    "type": "object",
    "additionalProperties": {"type": "string"},
    "properties": {
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                          "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
        "name": {**_NULL_STR, "description": "Descriptive name for the image"},
        "status": {"type": "string", "readOnly": True, "enum": STATUSES,
                   "description": "Status of the image"},
        "visibility": {"type": "string", "enum": VISIBILITIES,
                       "description": "Scope of image accessibility"},
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image "
                                     "list response."},
        "checksum": {"type": ["null", "string"], "readOnly": True, "maxLength": 32,
                     "description": "md5 hash of image contents."},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": True, "maxLength": 64,
                         "description": "Algorithm to calculate the os_hash_value"},
        "os_hash_value": {"type": ["null", "string"], "readOnly": True, "maxLength": 128,
                          "description": "Hexdigest of the image contents using the "
                                         "algorithm specified by the os_hash_algo"},
        "owner": {**_NULL_STR, "description": "Owner of the image"},
        "size": {"type": ["null", "integer"], "readOnly": True,
                 "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                         "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"],
                             "enum": [None] + CONTAINER_FORMATS,
                             "description": "Format of the container"},
        "disk_format": {"type": ["null", "string"], "enum": [None] + DISK_FORMATS,
                        "description": "Format of the disk"},
        "created_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": True,
                       "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255},
                 "description": "List of strings related to the image"},
        "direct_url": {"type": "string", "readOnly": True,
                       "description": "URL to access the image file kept in external "
                                      "store"},
        "min_ram": {"type": "integer", "minimum": 0,
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "minimum": 0,
                     "description": "Amount of disk space (in GB) required to boot "
                                    "image."},
        "self": {"type": "string", "readOnly": True,
                 "description": "An image self url"},
        "file": {"type": "string", "readOnly": True,
                 "description": "An image file url"},
        "stores": {"type": "string", "readOnly": True,
                   "description": "Store in which image data resides."},
        "schema": {"type": "string", "readOnly": True,
                   "description": "An image schema url"},
        "locations": {"type": "array", "description": "A set of URLs to access the "
                      "image file kept in external store"},
        # The convention the namespace compute driver boots (see kumo/image/__init__).
        "kumo_rootfs": {"type": "string", "enum": ["tar"],
                        "description": "Kumo: 'tar' marks a root filesystem tarball "
                                       "(container_format bare, disk_format raw) that "
                                       "the namespace compute driver boots."},
    },
    "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
              {"rel": "describedby", "href": "{schema}"}],
}

IMAGES: dict = {
    "name": "images",
    "properties": {
        "images": {"type": "array", "items": IMAGE},
        "schema": {"type": "string"},
        "first": {"type": "string"},
        "next": {"type": "string"},
    },
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}

MEMBER: dict = {
    "name": "member",
    "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member "
                                                        "creation"},
        "image_id": {"type": "string", "description": "An identifier for the image"},
        "member_id": {"type": "string", "description": "An identifier for the image "
                                                       "member (tenantId)"},
        "status": {"type": "string", "enum": MEMBER_STATUSES,
                   "description": "The status of this image member"},
        "updated_at": {"type": "string", "description": "Date and time of last "
                                                        "modification of image member"},
        "schema": {"readOnly": True, "type": "string"},
    },
}

MEMBERS: dict = {
    "name": "members",
    "properties": {
        "members": {"type": "array", "items": MEMBER},
        "schema": {"type": "string"},
    },
    "links": [{"rel": "describedby", "href": "{schema}"}],
}

#: Request bodies.
MEMBER_CREATE = {"type": "object", "required": ["member"],
                 "properties": {"member": {"type": "string", "minLength": 1,
                                           "maxLength": 255}}}
MEMBER_UPDATE = {"type": "object", "required": ["status"],
                 "properties": {"status": {"type": "string"}}}
IMPORT = {"type": "object", "required": ["method"],
          "properties": {"method": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"}}}}}
PATCH = {"type": "array", "items": {"type": "object", "required": ["op", "path"],
                                    "properties": {"op": {"type": "string"},
                                                   "path": {"type": "string"}}}}


#: Glance's ``_validate_db_int``: integer columns hold 4 bytes.
MAX_DB_INT = 2 ** 31 - 1


def check_db_ints(image: dict) -> None:
    """``min_disk``/``min_ram`` of a schema-valid image as Glance's database layer checks
    them: whole JSON integers (a float such as ``1e308`` is not one, as in Glance's
    draft-4 schema) no larger than :data:`MAX_DB_INT`; else 400."""
    from kumo.common import exceptions as exc

    for key in ("min_disk", "min_ram"):
        value = image.get(key)
        if isinstance(value, float):
            raise exc.ValidationError(f"Invalid input for field '{key}': {value!r} is "
                                      "not of type 'integer'")
        if isinstance(value, int) and value > MAX_DB_INT:
            raise exc.ValidationError(f"'{key}' value out of range, must not exceed "
                                      f"{MAX_DB_INT}.")
