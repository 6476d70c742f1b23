"""The dashboard in a real browser (headless Chromium through Selenium): a user's
whole path from login to a server with a floating IP on a new network behind a router,
the topology graph, the console log; admin pages refused to a member; a forged form
refused; a hostile name shown as text. Screenshots of each page go to ``screens/``
under the pytest temporary directory."""
from __future__ import annotations

import pytest

from tests.waiting import wait_for

XSS = "<script>alert(1)</script>"


def _no_alert(browser) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        browser.driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def _row(browser, name: str) -> dict | None:
    """The instances list's row for ``name`` as ``{"id", "status", "text"}``, read in
    one script (the list replaces its rows while it refreshes), or None."""
    return browser.driver.execute_script("""
        for (const tr of document.querySelectorAll('#instance-rows tr.instance')) {
          if (tr.querySelector('a.name').textContent === arguments[0])
            return {id: tr.dataset.id, status: tr.dataset.status, text: tr.innerText};
        }
        return null;""", name)


def test_network_router_server_topology_console_floating_ip(browser, users, demo_conn):
    b = browser
    b.login(users["demo"])
    b.shot("overview")
    assert "Limit summary" in b.driver.page_source

    # a network with a subnet
    b.get("/dashboard/project/networks")
    form = b.find("#create-network")
    form.find_element("name", "name").send_keys("web-net")
    form.find_element("name", "cidr").send_keys("10.77.0.0/24")
    form.find_element("css selector", "button").click()
    b.wait_css(".flash", "the network's message")
    assert "Network web-net created." in b.find(".flash").text
    b.shot("networks")

    # a router on the public network with an interface on the subnet
    b.get("/dashboard/project/routers")
    form = b.find("#create-router")
    form.find_element("name", "name").send_keys("web-router")
    b.select("#create-router select[name=external_network]", text="public")
    form.find_element("css selector", "button").click()
    b.wait_css("#add-interface", "the router's page")
    b.select("#add-interface select[name=subnet_id]", text="web-net-subnet (10.77.0.0/24)")
    b.find("#add-interface button").click()
    wait_for(lambda: "Interface added." in b.driver.page_source, "the interface")
    assert "10.77.0.1" in b.driver.page_source
    b.shot("router")

    # launch a server on it
    b.get("/dashboard/project/instances/launch")
    b.find("input[name=name]").send_keys("web-1")
    b.select("select[name=image]", text="cirros")
    b.select("select[name=networks]", text="web-net")
    b.shot("launch")
    b.find("#launch-form button[type=submit]").click()
    b.wait_css("#instance-rows", "the instances page")
    wait_for(lambda: _row(b, "web-1"), "web-1 in the list")
    # the list refreshes itself: no reload while the server turns ACTIVE
    row = wait_for(lambda: (_row(b, "web-1") or {}).get("status") == "ACTIVE" and
                   _row(b, "web-1"), "web-1 ACTIVE in the list", 90)
    server_id = row["id"]
    assert "10.77.0." in row["text"]
    b.shot("instances")
    # a change made elsewhere (the API) shows up in the open page, with no reload
    b.driver.execute_script("window.kumoSamePage = true")
    demo_conn.compute.stop_server(server_id)
    wait_for(lambda: (_row(b, "web-1") or {}).get("status") == "SHUTOFF",
             "web-1 SHUTOFF in the open list", 60, 0.5)
    assert b.driver.execute_script("return window.kumoSamePage === true")
    b.click(f"#instance-rows tr[data-id='{server_id}'] button[type=submit]")  # Start
    wait_for(lambda: (_row(b, "web-1") or {}).get("status") == "ACTIVE",
             "web-1 ACTIVE again", 60, 0.5)

    # the topology: public -> web-router -> web-net -> web-1, each node a link
    b.get("/dashboard/project/topology")
    node = b.wait_css(f"#node-server-{server_id}", "web-1 in the topology")
    assert "web-1" in node.text and "10.77.0." in node.text
    b.wait_css("#topology-graph a.node.router", "the router node")
    names = [t.text for t in b.finds("#topology-graph a.node text.label")]
    assert {"public (external)", "web-router", "web-net", "web-1"} <= set(names), names
    assert len(b.finds("#topology-graph line.edge")) >= 3
    b.shot("topology")
    b.driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', "
                            "{bubbles: true}))", node)
    b.wait_css("#console-link", "web-1's page")
    assert b.driver.current_url.endswith(f"/dashboard/project/instances/{server_id}")
    b.shot("instance")

    # its console log
    b.find("#console-link").click()
    log = b.wait_css("#console-log", "the console page")
    wait_for(lambda: "fake-init" in b.find("#console-log").text, "console text", 30)
    assert log.text
    b.shot("console")

    # a new floating IP from public
    b.get(f"/dashboard/project/instances/{server_id}/floating_ip")
    b.select("select[name=floating_ip]", text="Allocate a new one from public")
    b.shot("floating-ip")
    b.find("#fip-form button").click()
    b.wait_css("#addresses", "the instance page")
    assert "Floating IP 172.24.4." in b.find(".flash").text
    fip = next(demo_conn.network.ips(port_id=next(
        demo_conn.network.ports(device_id=server_id)).id))

    def shown():
        if "(floating)" in b.find("#addresses").text:
            return True
        b.driver.refresh()  # (Nova's addresses follow Neutron's association)
        return False
    wait_for(shown, "the floating address on the page", 30, 1)
    assert fip.floating_ip_address in b.find("#addresses").text

    # delete it (confirmed)
    b.get("/dashboard/project/instances")
    b.wait_css("#instance-rows", "the instances page")
    b.click(f"#instance-rows tr[data-id='{server_id}'] button.danger")
    b.accept_confirm()
    wait_for(lambda: _row(b, "web-1") is None and b.finds("#instance-rows"),
             "web-1 gone from the list", 60, 0.5)
    b.shot("deleted")
    wait_for(lambda: not list(demo_conn.compute.servers(name="web-1")), "web-1 deleted")


def test_member_cannot_open_admin_views(browser, users):
    b = browser
    b.login(users["demo"])
    assert not b.finds("nav.side a[href='/dashboard/admin/hypervisors']")
    for page in ("hypervisors", "agents", "users"):
        b.get(f"/dashboard/admin/{page}")
        assert b.find("main h1").text == "403 Forbidden"
    b.shot("member-admin-403")
    b.login(users["admin"])
    b.get("/dashboard/admin/agents")
    assert b.find("main h1").text == "Network agents"
    b.get("/dashboard/admin/hypervisors")
    assert "fake-0" in b.find("main table").text
    b.shot("admin-hypervisors")


def test_forged_form_without_csrf_is_refused(browser, users, demo_conn):
    b = browser
    b.login(users["demo"])
    b.get("/dashboard/project/networks")
    # a form like the page's own, but without the session's CSRF token
    b.driver.execute_script("""
        const f = document.createElement('form');
        f.method = 'post'; f.action = '/dashboard/project/networks';
        const i = document.createElement('input');
        i.name = 'name'; i.value = 'forged-in-browser'; f.appendChild(i);
        document.body.appendChild(f); f.submit();""")
    wait_for(lambda: b.finds("main h1") and b.find("main h1").text == "403 Forbidden",
             "the 403 page")
    assert "CSRF" in b.find("main .message").text
    b.shot("forged-403")
    assert not list(demo_conn.network.networks(name="forged-in-browser"))


def test_hostile_server_name_is_text(browser, users, demo_conn):
    image = next(demo_conn.image.images(name="cirros"))
    flavor = next(f for f in demo_conn.compute.flavors() if f.name == "m1.tiny")
    net = demo_conn.network.create_network(name=XSS)
    demo_conn.network.create_subnet(network_id=net.id, cidr="10.78.0.0/24", ip_version=4)
    server = demo_conn.compute.create_server(name=XSS, image_id=image.id,
                                             flavor_id=flavor.id,
                                             networks=[{"uuid": net.id}])
    try:
        b = browser
        b.login(users["demo"])
        b.get("/dashboard/project/instances")
        wait_for(lambda: _row(b, XSS), "the server's row")
        assert _row(b, XSS)["id"] == server.id
        assert _no_alert(b)
        b.shot("xss-instances")
        b.get("/dashboard/project/topology")
        node = b.wait_css(f"#node-server-{server.id}", "the server in the topology")
        # the label (cut to fit its box) and the tooltip hold the name as text
        assert node.text.startswith(XSS[:20])
        assert XSS in b.driver.execute_script(
            "return arguments[0].querySelector('title').textContent", node)
        assert _no_alert(b)
        b.shot("xss-topology")
        b.get(f"/dashboard/project/instances/{server.id}")
        assert b.find("main h1").text == XSS
        assert _no_alert(b)
        assert not b.driver.execute_script("return window.__xss === true")
    finally:
        demo_conn.compute.delete_server(server)
        wait_for(lambda: demo_conn.compute.find_server(server.id) is None,
                 "the server deleted")
        demo_conn.network.delete_network(net.id)


@pytest.mark.parametrize("size", [300_000])
def test_image_upload_with_progress(browser, users, demo_conn, tmp_path, size):
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\0" * size)
    b = browser
    b.login(users["demo"])
    b.get("/dashboard/project/images")
    form = b.find("#image-upload")
    form.find_element("name", "name").send_keys("uploaded")
    form.find_element("name", "file").send_keys(str(data))
    form.find_element("css selector", "button").click()
    wait_for(lambda: "Image uploaded uploaded" in b.driver.page_source,
             "the uploaded image's message", 60, 0.5)
    b.shot("images")
    image = next(demo_conn.image.images(name="uploaded"))
    assert image.status == "active" and image.size == size
    demo_conn.image.delete_image(image)
