"""The schemas of metadata definitions and tasks (Image API v2 "Metadata definition
schemas": ``/v2/schemas/metadefs/{namespace,namespaces,object,objects,property,
properties,tag,tags,resource_type,resource_types}``; "Tasks": ``/v2/schemas/task``,
``/v2/schemas/tasks``).

They are served as is and the request bodies are validated against them (Glance does
the same: its request deserializers check the body with the schema it serves).
"""
from __future__ import annotations

_TIME = {"type": "string", "readOnly": True, "format": "date-time"}
_NAME80 = {"type": "string", "minLength": 1, "maxLength": 80}
_TYPES = ["array", "boolean", "integer", "number", "object", "string", "null"]

#: A property definition (a JSON-schema subset), also used inside objects.
PROPERTY_BODY: dict = {
    "type": "object",
    "required": ["title", "type"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": _TYPES},
        "required": {"type": "array", "items": {"type": "string"}},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"type": "integer", "minimum": 0},
        "minLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {"type": "object", "properties": {
            "type": {"type": "string", "enum": _TYPES},
            "enum": {"type": "array"}}},
        "maxItems": {"type": "integer", "minimum": 0},
        "minItems": {"type": "integer", "minimum": 0},
        "uniqueItems": {"type": "boolean"},
        "additionalItems": {"type": "boolean"},
    },
}

PROPERTY: dict = {"name": "property", **PROPERTY_BODY,
                  "required": ["name", "title", "type"]}
PROPERTIES: dict = {
    "name": "properties",
    "properties": {"properties": {"type": "object",
                                  "additionalProperties": PROPERTY_BODY},
                   "schema": {"type": "string"}},
    "links": [{"rel": "describedby", "href": "{schema}"}],
}

OBJECT: dict = {
    "name": "object",
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object", "additionalProperties": PROPERTY_BODY},
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        "created_at": _TIME, "updated_at": _TIME,
    },
}
OBJECTS: dict = {
    "name": "objects",
    "properties": {"objects": {"type": "array", "items": OBJECT},
                   "first": {"type": "string"}, "next": {"type": "string"},
                   "schema": {"type": "string"}},
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}

TAG: dict = {
    "name": "tag",
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255},
                   "created_at": _TIME, "updated_at": _TIME},
}
TAGS: dict = {
    "name": "tags",
    "type": "object",
    "required": ["tags"],
    "properties": {"tags": {"type": "array", "items": TAG},
                   "first": {"type": "string"}, "next": {"type": "string"},
                   "schema": {"type": "string"}},
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}

RESOURCE_TYPE_ASSOCIATION: dict = {
    "name": "resource_type_association",
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {**_NAME80, "description": "Resource type names should be aligned with "
                 "Heat resource types whenever possible."},
        "prefix": {"type": "string", "maxLength": 80,
                   "description": "Prefix the namespace's properties take on this "
                                  "resource type (e.g. 'hw_' on images)."},
        "properties_target": {"type": "string", "maxLength": 80,
                              "description": "Which part of the resource the "
                                             "properties go to (e.g. 'image' or "
                                             "'volume' for Cinder volumes)."},
        "created_at": _TIME, "updated_at": _TIME,
    },
}
RESOURCE_TYPE_ASSOCIATIONS: dict = {
    "name": "resource_type_associations",
    "properties": {"resource_type_associations": {"type": "array",
                                                  "items": RESOURCE_TYPE_ASSOCIATION},
                   "first": {"type": "string"}, "next": {"type": "string"},
                   "schema": {"type": "string"}},
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}

NAMESPACE: dict = {
    "name": "namespace",
    "type": "object",
    "required": ["namespace"],
    "additionalProperties": False,
    "properties": {
        "namespace": {**_NAME80, "description": "The unique namespace text."},
        "display_name": {"type": "string", "maxLength": 80,
                         "description": "The user friendly name for the namespace."},
        "description": {"type": "string", "maxLength": 500,
                        "description": "Provides a user friendly description of the "
                                       "namespace."},
        "visibility": {"type": "string", "enum": ["public", "private"],
                       "description": "Scope of namespace accessibility."},
        "protected": {"type": "boolean",
                      "description": "If true, namespace will not be deletable."},
        "owner": {"type": "string", "maxLength": 255,
                  "description": "Owner of the namespace."},
        "created_at": _TIME, "updated_at": _TIME,
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        "resource_type_associations": {"type": "array",
                                       "items": RESOURCE_TYPE_ASSOCIATION},
        "properties": {"type": "object", "additionalProperties": PROPERTY_BODY},
        "objects": {"type": "array", "items": OBJECT},
        "tags": {"type": "array", "items": TAG},
    },
}
NAMESPACES: dict = {
    "name": "namespaces",
    "properties": {"namespaces": {"type": "array", "items": NAMESPACE},
                   "first": {"type": "string"}, "next": {"type": "string"},
                   "schema": {"type": "string"}},
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}

RESOURCE_TYPE: dict = {
    "name": "resource_type",
    "type": "object",
    "properties": {"name": _NAME80, "created_at": _TIME, "updated_at": _TIME},
}
RESOURCE_TYPES: dict = {
    "name": "resource_types",
    "properties": {"resource_types": {"type": "array", "items": RESOURCE_TYPE},
                   "schema": {"type": "string"}},
    "links": [{"rel": "describedby", "href": "{schema}"}],
}

#: ``/v2/schemas/metadefs/<name>``.
BY_NAME = {"namespace": NAMESPACE, "namespaces": NAMESPACES, "object": OBJECT,
           "objects": OBJECTS, "property": PROPERTY, "properties": PROPERTIES,
           "tag": TAG, "tags": TAGS, "resource_type": RESOURCE_TYPE_ASSOCIATION,
           "resource_types": RESOURCE_TYPE_ASSOCIATIONS}

#: Tasks.
TASK_TYPES = ["import"]
TASK_STATUSES = ["pending", "processing", "success", "failure"]
TASK: dict = {
    "name": "task",
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "An identifier for the task",
               "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                          "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
        "type": {"type": "string", "enum": TASK_TYPES,
                 "description": "The type of task represented by this content"},
        "status": {"type": "string", "enum": TASK_STATUSES, "readOnly": True,
                   "description": "The current status of this task"},
        "input": {"type": "object", "description": "The parameters required by task, "
                  "JSON blob"},
        "result": {"type": ["null", "object"], "readOnly": True,
                   "description": "The result of current task, JSON blob"},
        "owner": {"type": ["null", "string"], "readOnly": True,
                  "description": "An identifier for the owner of this task"},
        "message": {"type": "string", "readOnly": True,
                    "description": "Human-readable informative message only included "
                                   "when appropriate (usually on failure)"},
        "image_id": {"type": "string", "readOnly": True,
                     "description": "Image associated with the task"},
        "request_id": {"type": "string", "readOnly": True},
        "user_id": {"type": "string", "readOnly": True},
        "expires_at": {"type": ["null", "string"], "readOnly": True,
                       "description": "Datetime when this resource would be subject to "
                                      "removal"},
        "created_at": {"type": "string", "readOnly": True},
        "updated_at": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
    },
    "required": ["type", "input"],
    "additionalProperties": False,
    "links": [{"rel": "self", "href": "{self}"},
              {"rel": "describedby", "href": "{schema}"}],
}
_TASK_LISTED = ["id", "type", "status", "owner", "expires_at", "created_at",
                "updated_at", "self", "schema"]
TASKS: dict = {
    "name": "tasks",
    "properties": {
        "tasks": {"type": "array", "items": {
            "name": "task", "properties": {k: TASK["properties"][k] for k in _TASK_LISTED}}},
        "schema": {"type": "string"}, "first": {"type": "string"},
        "next": {"type": "string"}},
    "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
              {"rel": "describedby", "href": "{schema}"}],
}
TASK_CREATE: dict = {
    "type": "object", "required": ["type", "input"], "additionalProperties": False,
    "properties": {"type": {"type": "string"}, "input": {"type": "object"}},
}
IMPORT_INPUT: dict = {
    "type": "object", "required": ["import_from", "import_from_format",
                                   "image_properties"],
    "properties": {"import_from": {"type": "string", "minLength": 1},
                   "import_from_format": {"type": "string"},
                   "image_properties": {"type": "object"}},
}
