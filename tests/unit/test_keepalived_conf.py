"""keepalived.conf rendering (kumo/agent/dataplane/keepalived.py): the file is read by
a keepalived that runs its notify script as root, so no value may add a line or a
block to it."""
from __future__ import annotations

import pytest

from kumo.agent.dataplane import keepalived


def _inst(**kw):
    base = dict(vr_id=7, interface="ha-0123456789a",
                vips=[("10.0.0.1/24", "qr-0123456789a")],
                routes=[("0.0.0.0/0", "172.24.4.1", "qg-0123456789a"),
                        ("10.9.0.0/16", "10.0.0.254", None)])
    base.update(kw)
    return keepalived.Instance(**base)


def test_render_holds_the_addresses_and_routes(tmp_path):
    conf = keepalived.render(_inst(), keepalived.Files(str(tmp_path)))
    assert "virtual_router_id 7" in conf
    assert "        10.0.0.1/24 dev qr-0123456789a" in conf
    assert "        0.0.0.0/0 via 172.24.4.1 dev qg-0123456789a" in conf
    assert "        10.9.0.0/16 via 10.0.0.254" in conf


@pytest.mark.parametrize("bad", [
    dict(vips=[("10.0.0.1/24\n}\nvrrp_script x {", "qr-0123456789a")]),
    dict(vips=[("10.0.0.1/24", "qr-x } notify /tmp/evil")]),
    dict(routes=[("10.9.0.0/16", "10.0.0.254\n    notify /tmp/evil", None)]),
    dict(routes=[("10.9.0.0/16 x", "10.0.0.254", None)]),
    dict(interface="ha-1\nnotify"),
    dict(vr_id=0), dict(vr_id=256), dict(vr_id="7 }"),
])
def test_render_refuses_what_is_not_an_address_or_a_device(tmp_path, bad):
    with pytest.raises(ValueError):
        keepalived.render(_inst(**bad), keepalived.Files(str(tmp_path)))
