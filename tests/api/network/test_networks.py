"""Networks over the Networking API v2.0, with openstacksdk and the openstack CLI."""
import pytest
from openstack import exceptions as sdk_exc


def _neutron_error(resp):
    return resp.json()["NeutronError"]


@pytest.fixture
def net(demo, unique):
    network = demo.network.create_network(name=unique("net"))
    yield network
    if demo.network.find_network(network.id):
        demo.network.delete_network(network)


def test_create_show_update_delete(demo, unique):
    name = unique("net")
    network = demo.network.create_network(name=name, description="d")
    try:
        assert network.name == name
        assert network.status == "ACTIVE"
        assert network.mtu == 1450
        assert network.is_admin_state_up is True
        assert network.project_id == demo.current_project_id
        assert network.revision_number == 0
        shown = demo.network.get_network(network.id)
        assert shown.description == "d"
        # Provider attributes are hidden from non-admins, as in Neutron.
        assert shown.provider_network_type is None
        updated = demo.network.update_network(network, name=name + "-2")
        assert updated.name == name + "-2"
        assert updated.revision_number == 1
    finally:
        demo.network.delete_network(network)
    with pytest.raises(sdk_exc.NotFoundException):
        demo.network.get_network(network.id)


def test_admin_sees_provider_attributes_and_vnis_are_unique(admin, unique):
    a = admin.network.create_network(name=unique("a"))
    b = admin.network.create_network(name=unique("b"))
    try:
        assert a.provider_network_type == "vxlan"
        assert a.provider_segmentation_id != b.provider_segmentation_id
        with pytest.raises(sdk_exc.ConflictException):
            admin.network.create_network(name=unique("c"), provider_network_type="vxlan",
                                         provider_segmentation_id=a.provider_segmentation_id)
    finally:
        admin.network.delete_network(a)
        admin.network.delete_network(b)


def test_flat_network_on_a_used_physical_network_is_409(admin, unique):
    resp = admin.network.post("/networks", json={"network": {
        "name": unique("flat"), "provider:network_type": "flat",
        "provider:physical_network": "public"}})
    assert resp.status_code == 409
    assert "public is in use" in _neutron_error(resp)["message"]


def test_member_cannot_set_admin_only_attributes(demo, unique):
    for attrs in ({"shared": True}, {"router:external": True},
                  {"provider:network_type": "vxlan"}):
        resp = demo.network.post("/networks", json={"network": {"name": unique("x"),
                                                                **attrs}})
        assert resp.status_code == 403, attrs
        assert _neutron_error(resp)["type"] == "PolicyNotAuthorized"
    assert not [n for n in demo.network.networks() if n.name.startswith("x-")]


def test_bad_input_is_400_and_creates_nothing(demo, unique):
    before = len(list(demo.network.networks()))
    for body in ({"network": {"name": 5}}, {"network": {"bogus": 1}}, {"nope": {}},
                 {"network": {"mtu": 10}}):
        resp = demo.network.post("/networks", json=body)
        assert resp.status_code == 400, body
        assert _neutron_error(resp)["type"] == "HTTPBadRequest"
    resp = demo.network.post("/networks", data="{not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert len(list(demo.network.networks())) == before


def test_bulk_create_is_all_or_nothing(demo, unique):
    prefix = unique("bulk")
    resp = demo.network.post("/networks", json={"networks": [
        {"name": prefix + "-1"}, {"name": prefix + "-2", "shared": True}]})
    assert resp.status_code == 403
    assert not list(demo.network.networks(name=prefix + "-1"))
    resp = demo.network.post("/networks", json={"networks": [
        {"name": prefix + "-1"}, {"name": prefix + "-2"}]})
    assert resp.status_code == 201
    created = resp.json()["networks"]
    assert [n["name"] for n in created] == [prefix + "-1", prefix + "-2"]
    for n in created:
        demo.network.delete_network(n["id"])


def test_filters_fields_sort_and_pagination(demo, unique):
    prefix = unique("page")
    nets = [demo.network.create_network(name=f"{prefix}-{i}", admin_state_up=i % 2 == 0)
            for i in range(5)]
    try:
        mine = [n.name for n in demo.network.networks(name=f"{prefix}-3")]
        assert mine == [f"{prefix}-3"]
        down = demo.network.get("/networks?admin_state_up=false&name=%s-1&name=%s-2"
                                % (prefix, prefix)).json()["networks"]
        assert [n["name"] for n in down] == [f"{prefix}-1"]
        body = demo.network.get(f"/networks?fields=id&fields=name&name={prefix}-0").json()
        assert set(body["networks"][0]) == {"id", "name"}
        ids = {n.id for n in nets}
        url = "/networks?sort_key=name&sort_dir=desc&limit=2"
        seen = []
        while url:
            page = demo.network.get(url).json()
            seen += [n["name"] for n in page["networks"] if n["id"] in ids]
            nxt = [link["href"] for link in page.get("networks_links", [])
                   if link["rel"] == "next"]
            url = nxt[0].split("/v2.0", 1)[1] if nxt else None
        assert seen == sorted((n.name for n in nets), reverse=True)
        resp = demo.network.get("/networks?sort_key=bogus")
        assert resp.status_code == 400
    finally:
        for n in nets:
            demo.network.delete_network(n)


def test_if_match_revision(demo, net):
    resp = demo.network.put(f"/networks/{net.id}", json={"network": {"name": "x"}},
                            headers={"If-Match": "revision_number=7"})
    assert resp.status_code == 412
    resp = demo.network.put(f"/networks/{net.id}", json={"network": {"name": "y"}},
                            headers={"If-Match": f"revision_number={net.revision_number}"})
    assert resp.status_code == 200
    assert resp.json()["network"]["name"] == "y"


def test_tags(demo, net):
    demo.network.set_tags(net, ["blue", "green"])
    assert sorted(demo.network.get_network(net.id).tags) == ["blue", "green"]
    assert demo.network.put(f"/networks/{net.id}/tags/red").status_code == 201
    tagged = [n.id for n in demo.network.networks(tags="blue,red")]
    assert tagged == [net.id]
    assert net.id not in [n.id for n in demo.network.networks(not_tags="red")]
    assert demo.network.delete(f"/networks/{net.id}/tags/blue").status_code == 204
    assert demo.network.get(f"/networks/{net.id}/tags/blue").status_code == 404
    assert demo.network.delete(f"/networks/{net.id}/tags").status_code == 204
    assert demo.network.get_network(net.id).tags == []


def test_other_projects_network_is_404(admin, demo, unique):
    private = admin.network.create_network(name=unique("adminnet"))
    try:
        resp = demo.network.get(f"/networks/{private.id}")
        assert resp.status_code == 404
        assert _neutron_error(resp)["type"] == "NetworkNotFound"
        assert demo.network.delete(f"/networks/{private.id}").status_code == 404
        assert private.id not in {n.id for n in demo.network.networks()}
    finally:
        admin.network.delete_network(private)


def test_shared_network_is_visible_but_not_writable(admin, demo, unique):
    shared = admin.network.create_network(name=unique("shared"), shared=True)
    try:
        assert demo.network.get_network(shared.id).is_shared is True
        resp = demo.network.put(f"/networks/{shared.id}", json={"network": {"name": "x"}})
        assert resp.status_code == 403
    finally:
        admin.network.delete_network(shared)


def test_public_network_is_bootstrapped_external(demo):
    public = demo.network.find_network("public")
    assert public is not None
    assert public.is_router_external is True


def test_extensions_list_what_is_implemented(demo):
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"external-net", "provider", "standard-attr-tag", "pagination",
            "sorting"} <= aliases
    assert demo.network.get("/extensions/not-a-thing").status_code == 404


def test_cli_network_lifecycle(cloud, unique):
    name = unique("cli")
    created = cloud.cli("network", "create", name, "--description", "via cli", cloud="kumo")
    assert created["name"] == name
    listed = cloud.cli("network", "list", "--name", name, cloud="kumo")
    assert [n["ID"] for n in listed] == [created["id"]]
    cloud.cli("network", "set", "--name", name + "-2", created["id"], parse=False,
              cloud="kumo")
    assert cloud.cli("network", "show", created["id"], cloud="kumo")["name"] == name + "-2"
    cloud.cli("network", "delete", created["id"], parse=False, cloud="kumo")
    gone = cloud.cli("network", "show", created["id"], cloud="kumo", check=False)
    assert gone.returncode != 0
