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
