"""The one exception tree of Kumo.

Every error a request can meet is a :class:`KumoError` subclass carrying its HTTP status,
a title and a message. Services map it to their own fault body only at the API edge
(see :mod:`kumo.common.http`): Keystone's ``{"error": {"code", "title", "message"}}``,
Neutron's ``{"NeutronError": {"type", "message", "detail"}}`` and so on.
"""
from __future__ import annotations


class KumoError(Exception):
    """Base class. ``status`` is the HTTP status code, ``title`` its reason phrase."""

    status = 500
    title = "Internal Server Error"
    message = "An unexpected error prevented the server from fulfilling your request."

    def __init__(self, message: str | None = None, **kwargs):
        if message is None:
            message = self.message % kwargs if kwargs else self.message
        self.message = message
        super().__init__(message)

    @property
    def type(self) -> str:
        """The error's type name, as Neutron's fault body reports it."""
        return type(self).__name__


class BadRequest(KumoError):
    status = 400
    title = "Bad Request"
    message = "The request you have made requires validation."


class ValidationError(BadRequest):
    message = "Invalid input for field/attribute %(attribute)s."


class Unauthorized(KumoError):
    status = 401
    title = "Unauthorized"
    message = "The request you have made requires authentication."


class Forbidden(KumoError):
    status = 403
    title = "Forbidden"
    message = "You are not authorized to perform the requested action."


class PolicyNotAuthorized(Forbidden):
    message = "You are not authorized to perform the requested action: %(action)s."


class NotFound(KumoError):
    status = 404
    title = "Not Found"
    message = "Could not find %(resource)s: %(id)s."


class MethodNotAllowed(KumoError):
    status = 405
    title = "Method Not Allowed"
    message = "The method is not allowed for the requested URL."


class Conflict(KumoError):
    status = 409
    title = "Conflict"
    message = "Conflict occurred attempting to store %(resource)s - %(details)s."


class PreconditionFailed(KumoError):
    status = 412
    title = "Precondition Failed"
    message = "The resource has been changed since the condition was set."


class PayloadTooLarge(KumoError):
    status = 413
    title = "Request Entity Too Large"
    message = "Request is too large."


class URITooLong(KumoError):
    status = 414
    title = "Request-URI Too Long"
    message = "The request URI is too long."


class UnsupportedMediaType(KumoError):
    status = 415
    title = "Unsupported Media Type"
    message = "The media type of the request is not supported."


class NotImplementedYet(KumoError):
    status = 501
    title = "Not Implemented"
    message = "The action you have requested has not been implemented."


class ServiceUnavailable(KumoError):
    status = 503
    title = "Service Unavailable"
    message = "The service is unavailable."
