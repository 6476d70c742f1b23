"""The data plane's exception."""
from __future__ import annotations

from kumo.common.exceptions import KumoError


class KumoDataplaneError(KumoError):
    """A kernel or tool operation failed.

    ``op`` says what was attempted (``"link add vxlan-5"``, ``"nft -j -f -"``), ``errno``
    is the netlink/OS error number when there is one (``None`` for a failed command),
    ``detail`` the kernel's or the tool's own words.
    """

    status = 500
    title = "Internal Server Error"
    message = "Data plane operation failed."

    def __init__(self, op: str, detail: str = "", errno: int | None = None):
        self.op = op
        self.detail = detail
        self.errno = errno
        super().__init__(f"{op}: {detail}" if detail else op)


class PermanentError(Exception):
    """A driver cannot realize the desired state as it is, and retrying soon will not
    help: the API refused what the driver needs (400/409, e.g. no free address for a
    DHCP port), or the configuration is wrong. The agent reports it once (the agent's
    ``configurations["errors"]`` in its heartbeat, and ``ERROR`` for the ``ports`` named
    here that are bound to its host), logs it once at WARNING without a traceback, and
    retries with backoff up to minutes (at once when the object changes).

    ``message``: what failed and why, for operators. ``ports``: ids of ports this error
    leaves unusable (not the ones that still work)."""

    permanent = True

    def __init__(self, message: str, *, ports: tuple[str, ...] | list[str] = ()):
        super().__init__(message)
        self.ports = tuple(ports)


#: Controller answers that are the caller's fault: retrying the same request fails again.
PERMANENT_STATUSES = (400, 409)


def is_permanent(exc: BaseException) -> bool:
    """Whether ``exc`` is a permanent error: a :class:`PermanentError` (or anything
    with a true ``permanent`` attribute), or a controller answer in
    :data:`PERMANENT_STATUSES` (:class:`kumo.agent.client.ControllerError`; never an
    unavailable controller)."""
    if getattr(exc, "permanent", False):
        return True
    from kumo.agent import client as api  # noqa: PLC0415 - the client needs no data plane

    return (isinstance(exc, api.ControllerError)
            and not isinstance(exc, api.ControllerUnavailable)
            and exc.status in PERMANENT_STATUSES)
