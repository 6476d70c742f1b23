"""Remote consoles (kumo/compute/api/remote_consoles.py): Kumo serves no console type,
so ``openstack console url show``, ``POST /servers/{id}/remote-consoles`` (2.6+) and the
legacy ``os-get*Console`` actions (2.1-2.5) answer what Nova answers with every console
type disabled: 400 "Unavailable console type <type>.", 409 while the server has no host,
404 for an unknown server or a route outside its microversions; never a bare 404."""
from __future__ import annotations

import openstack
import pytest

from tests.api.compute.conftest import assert_fault, wait_status


def remote(nova, conn, sid, protocol, kind, version="2.6"):
    return nova.request(conn, "POST", f"/servers/{sid}/remote-consoles", version=version,
                        json={"remote_console": {"protocol": protocol, "type": kind}})


def act(nova, conn, sid, body, version="2.1"):
    return nova.request(conn, "POST", f"/servers/{sid}/action", json=body, version=version)


@pytest.fixture
def server(demo, nova, boot):
    made = boot("console-url")
    wait_status(nova, demo, made["id"], "ACTIVE")
    return made["id"]


def test_cli_console_url_show_gets_novas_400(cloud, server):
    for flag, kind in (("--novnc", "novnc"), ("--serial", "serial"),
                       ("--spice", "spice-html5")):
        proc = cloud.cli("console", "url", "show", flag, server, cloud="kumo", check=False)
        assert proc.returncode != 0
        assert f"Unavailable console type {kind}." in proc.stderr, proc.stderr
        # the client's message quotes the request URL, whose server id may hold "404"
        said = proc.stderr.replace(server, "<id>")
        assert "404" not in said and "Not Found" not in said, proc.stderr


def test_sdk_create_console_gets_bad_request(demo, server):
    with pytest.raises(openstack.exceptions.BadRequestException,
                       match="Unavailable console type novnc"):
        demo.compute.create_console(server, console_type="novnc")


def test_remote_consoles_route(demo, nova, server):
    for protocol, kind, version in (("vnc", "novnc", "2.6"), ("spice", "spice-html5", "2.6"),
                                    ("serial", "serial", "2.6"), ("mks", "webmks", "2.8"),
                                    ("vnc", "novnc", "2.96")):
        msg = assert_fault(remote(nova, demo, server, protocol, kind, version), 400,
                           "badRequest")
        assert msg == f"Unavailable console type {kind}."
    msg = assert_fault(remote(nova, demo, server, "rdp", "rdp-html5"), 400, "badRequest")
    assert msg == "Unavailable console type rdp."
    # Nova's schema: mks only from 2.8, known protocols and types, both required
    assert_fault(remote(nova, demo, server, "mks", "webmks", "2.7"), 400, "badRequest")
    assert_fault(remote(nova, demo, server, "vnc", "telnet"), 400, "badRequest")
    assert_fault(nova.request(demo, "POST", f"/servers/{server}/remote-consoles",
                              version="2.6", json={"remote_console": {"protocol": "vnc"}}),
                 400, "badRequest")
    # below 2.6 the route does not exist; an unknown server is 404
    assert_fault(remote(nova, demo, server, "vnc", "novnc", "2.5"), 404, "itemNotFound")
    assert_fault(remote(nova, demo, "00000000-0000-0000-0000-000000000000", "vnc",
                        "novnc"), 404, "itemNotFound")


def test_legacy_actions(demo, nova, server):
    for action, kind in (("os-getVNCConsole", "novnc"), ("os-getVNCConsole", "xvpvnc"),
                         ("os-getSPICEConsole", "spice-html5"),
                         ("os-getSerialConsole", "serial")):
        msg = assert_fault(act(nova, demo, server, {action: {"type": kind}}), 400,
                           "badRequest")
        assert msg == f"Unavailable console type {kind}."
        # removed from the action API at 2.6 (remote-consoles replaces them)
        assert_fault(act(nova, demo, server, {action: {"type": kind}}, "2.6"), 404,
                     "itemNotFound")
    assert_fault(act(nova, demo, server, {"os-getVNCConsole": {"type": "serial"}}), 400,
                 "badRequest")
    assert_fault(act(nova, demo, server, {"os-getVNCConsole": {}}), 400, "badRequest")
    msg = assert_fault(act(nova, demo, server, {"os-getRDPConsole": {"type": "rdp-html5"}}),
                       400, "badRequest")
    assert "could not comply with the request" in msg


def test_server_without_host_is_not_ready(demo, admin, nova, boot, unique):
    flavor = admin.compute.create_flavor(name=unique("huge"), ram=64, vcpus=1, disk=10 ** 7)
    made = None
    try:
        made = boot("console-nohost", flavorRef=flavor.id)
        wait_status(nova, demo, made["id"], "ERROR")
        msg = assert_fault(remote(nova, demo, made["id"], "vnc", "novnc"), 409,
                           "conflictingRequest")
        assert msg == f"Instance {made['id']} is not ready"
        assert_fault(act(nova, demo, made["id"], {"os-getSerialConsole": {"type": "serial"}}),
                     409, "conflictingRequest")
    finally:
        if made:
            nova.request(demo, "DELETE", f"/servers/{made['id']}")
        admin.compute.delete_flavor(flavor)
