"""JSON Schemas of Identity API v3 request bodies (as Keystone validates them)."""
from __future__ import annotations

NAME = {"type": "string", "minLength": 1, "maxLength": 255}
ID_OR_NULL = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
DESCRIPTION = {"type": ["string", "null"]}
BOOLEAN = {"type": "boolean"}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[^,/]*$"}, "maxItems": 80}
OPTIONS = {"type": "object"}


def wrap(key: str, properties: dict, required: tuple = (), extra: bool = True) -> dict:
    """``{key: {...}}`` with ``properties``; ``extra`` allows unknown attributes."""
    inner = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        inner["required"] = list(required)
    else:
        inner["minProperties"] = 1
    return {"type": "object", "properties": {key: inner}, "required": [key]}


#: Keystone limits project and domain names to 64 characters.
DOMAIN_PROPS = {"name": {**NAME, "maxLength": 64}, "description": DESCRIPTION, "enabled": BOOLEAN, "tags": TAGS,
                "options": OPTIONS, "explicit_domain_id": ID_OR_NULL}
DOMAIN_CREATE = wrap("domain", DOMAIN_PROPS, ("name",), extra=False)
DOMAIN_UPDATE = wrap("domain", {k: v for k, v in DOMAIN_PROPS.items()
                                if k != "explicit_domain_id"}, extra=False)

PROJECT_PROPS = {"name": {**NAME, "maxLength": 64}, "description": DESCRIPTION,
                 "domain_id": ID_OR_NULL, "parent_id": ID_OR_NULL, "enabled": BOOLEAN,
                 "is_domain": BOOLEAN, "tags": TAGS, "options": OPTIONS}
PROJECT_CREATE = wrap("project", PROJECT_PROPS, ("name",))
PROJECT_UPDATE = wrap("project", PROJECT_PROPS)
TAGS_BODY = {"type": "object", "properties": {"tags": TAGS}, "required": ["tags"]}

USER_PROPS = {"name": NAME, "domain_id": ID_OR_NULL, "default_project_id": ID_OR_NULL,
              "enabled": BOOLEAN, "password": {"type": ["string", "null"]},
              "description": DESCRIPTION, "options": OPTIONS}
USER_CREATE = wrap("user", USER_PROPS, ("name",))
USER_UPDATE = wrap("user", USER_PROPS)
PASSWORD_CHANGE = wrap("user", {"password": {"type": "string"},
                                "original_password": {"type": "string"}},
                       ("password", "original_password"), extra=False)

GROUP_PROPS = {"name": NAME, "domain_id": ID_OR_NULL, "description": DESCRIPTION}
GROUP_CREATE = wrap("group", GROUP_PROPS, ("name",))
GROUP_UPDATE = wrap("group", GROUP_PROPS)

ROLE_PROPS = {"name": NAME, "domain_id": ID_OR_NULL, "description": DESCRIPTION,
              "options": OPTIONS}
ROLE_CREATE = wrap("role", ROLE_PROPS, ("name",))
ROLE_UPDATE = wrap("role", ROLE_PROPS)

REGION_PROPS = {"id": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": DESCRIPTION, "parent_region_id": ID_OR_NULL}
REGION_CREATE = {"type": "object", "required": ["region"],
                 "properties": {"region": {"type": "object", "properties": REGION_PROPS}}}
REGION_UPDATE = wrap("region", {k: v for k, v in REGION_PROPS.items() if k != "id"})

SERVICE_PROPS = {"type": NAME, "name": {"type": ["string", "null"], "maxLength": 255},
                 "description": DESCRIPTION, "enabled": BOOLEAN}
SERVICE_CREATE = wrap("service", SERVICE_PROPS, ("type",))
SERVICE_UPDATE = wrap("service", SERVICE_PROPS)

INTERFACE = {"type": "string", "enum": ["public", "internal", "admin"]}
ENDPOINT_PROPS = {"service_id": {"type": "string", "minLength": 1}, "interface": INTERFACE,
                  "url": {"type": "string", "minLength": 1, "maxLength": 225,
                          "pattern": "^[a-zA-Z0-9+.-]+:.+"},
                  "region_id": ID_OR_NULL, "region": ID_OR_NULL, "enabled": BOOLEAN}
ENDPOINT_CREATE = wrap("endpoint", ENDPOINT_PROPS, ("service_id", "interface", "url"))
ENDPOINT_UPDATE = wrap("endpoint", ENDPOINT_PROPS)

ROLE_REF = {"type": "object", "properties": {"id": {"type": "string"},
                                             "name": {"type": "string"}},
            "minProperties": 1}
#: One access rule of an application credential (Keystone's schema): a new rule, or
#: ``{"id"}`` to reuse one of the user's existing rules.
ID_STRING = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-zA-Z0-9-]+$"}
ACCESS_RULE = {"type": "object", "additionalProperties": False, "properties": {
    "path": {"type": "string", "minLength": 0, "maxLength": 225, "pattern": "^/.*"},
    "method": {"type": "string", "pattern": "^(POST|GET|HEAD|PATCH|PUT|DELETE)$"},
    "service": ID_STRING, "id": ID_STRING}}
APP_CRED_CREATE = wrap("application_credential", {
    "name": NAME, "description": DESCRIPTION, "secret": {"type": ["string", "null"]},
    "expires_at": {"type": ["string", "null"]}, "roles": {"type": "array", "items": ROLE_REF},
    "unrestricted": {"type": ["boolean", "null"]},
    "access_rules": {"type": "array", "items": ACCESS_RULE},
}, ("name",), extra=False)
