"""The Identity API v3 under ``/identity``: one module per area registers its routes on
``service``."""
from kumo.common.http import Service, keystone_fault, keystone_media_type

service = Service("identity", "/identity", keystone_fault, keystone_media_type)

from kumo.identity import policies  # noqa: E402,F401  (registers the default rules)
from kumo.identity.api import (assignments, auth, catalog, credentials,  # noqa: E402,F401
                               endpoint_filter, federation, limits, oauth1,
                               resources, trusts,
                               users)

__all__ = ["service"]
