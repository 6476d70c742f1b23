"""Networking tables, one module per area; importing this package registers them all."""
from kumo.network.models import core  # noqa: F401
from kumo.network.models import ports  # noqa: F401
from kumo.network.models import l3  # noqa: F401
from kumo.network.models import security  # noqa: F401
from kumo.network.models import dvr  # noqa: F401
from kumo.network.models import fwd  # noqa: F401
from kumo.network.models import misc  # noqa: F401
from kumo.network.models import qos  # noqa: F401
from kumo.network.models import fwaas  # noqa: F401
from kumo.network.models import taas  # noqa: F401
