"""The Networking API v2.0 under ``/networking``: one module per area registers its
routes on ``service``."""
from kumo.common.http import Service
from kumo.network.api.common import neutron_fault

service = Service("network", "/networking", neutron_fault)

from kumo.network.api import root, networks, feed  # noqa: E402,F401
from kumo.network.api import ports, l3, security, admin  # noqa: E402,F401
from kumo.network.api import agent_status  # noqa: E402,F401
from kumo.network.api import portforwarding, auto_topology, dns  # noqa: E402,F401
from kumo.network.api import netviews  # noqa: E402,F401
from kumo.network.api import qos  # noqa: E402,F401
from kumo.network.api import fwaas  # noqa: E402,F401
from kumo.network.api import taas, trunks  # noqa: E402,F401

__all__ = ["service"]
