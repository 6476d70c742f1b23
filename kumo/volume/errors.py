"""Cinder's error classes as Kumo errors (rendered ``badRequest``, ``itemNotFound``...
by :func:`kumo.volume.api.cinder_fault`)."""
from kumo.common import exceptions as exc


class InvalidInput(exc.BadRequest):
    """Cinder's ``InvalidInput``/``InvalidVolume``/``InvalidSnapshot``... (400)."""


class NotFoundError(exc.NotFound):
    """Cinder's ``VolumeNotFound``... (404)."""


def invalid_volume(reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid volume: {reason}")


class NoValidBackend(exc.KumoError):
    """No backend can take a volume (Cinder's ``NoValidBackend``, which its scheduler
    raises after the API accepted the volume): the worker's error, never an answer."""
