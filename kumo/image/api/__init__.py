"""The Image API v2 under ``/image``: one module per area registers its routes on
``service``. Errors are Glance's (webob's) JSON fault body::

    {"message": "No image found with ID ...", "code": "404 Not Found",
     "title": "Not Found"}
"""
from kumo.common import exceptions as exc
from kumo.common.http import Service


def glance_fault(error: exc.KumoError) -> dict:
    """Glance's fault body: ``{"message", "code": "<status> <title>", "title"}``."""
    return {"message": error.message, "code": f"{error.status} {error.title}",
            "title": error.title}


class GlanceService(Service):
    """Glance's router: a path ending in ``/`` below ``/v2/`` names an empty id
    (``/v2/images/``), which Glance answers 404 whatever the method, never 405 or
    the collection."""

    def match(self, method: str, path: str):
        if path.endswith("/") and path.strip("/").count("/") >= 1:
            raise exc.NotFound("The resource could not be found.")
        return super().match(method, path)


service = GlanceService("image", "/image", glance_fault)

from kumo.image import policies  # noqa: E402,F401  (registers the default rules)
from kumo.image.api import (data, discovery, images, members,  # noqa: E402,F401
                            metadefs, tasks)

__all__ = ["service"]
