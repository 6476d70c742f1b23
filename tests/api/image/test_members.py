"""Image members: sharing with another project, accept/reject, listing rules."""
from __future__ import annotations

from tests.api.image.conftest import assert_fault


def test_members_flow(glance, demo, other, image):
    iid, pid = image["id"], other.project_id_
    ids = lambda **p: [i["id"] for i in glance.request(  # noqa: E731
        other, "GET", "/v2/images", params=p).json()["images"]]
    member = demo.image.add_member(iid, member_id=pid)
    assert member.status == "pending"
    assert_fault(glance.request(demo, "POST", f"/v2/images/{iid}/members",
                                json={"member": pid}), 409, "Conflict")
    # visible to the pending member, but listed only when member_status asks for it
    assert glance.request(other, "GET", f"/v2/images/{iid}").status_code == 200
    assert iid not in ids()
    assert iid in ids(visibility="shared", member_status="pending")
    # only the member changes its status
    assert_fault(glance.request(demo, "PUT", f"/v2/images/{iid}/members/{pid}",
                                json={"status": "accepted"}), 403, "Forbidden")
    assert_fault(glance.request(other, "PUT", f"/v2/images/{iid}/members/{pid}",
                                json={"status": "bogus"}), 400, "Bad Request")
    other.image.update_member(pid, iid, status="accepted")
    assert iid in ids() and iid in ids(visibility="shared")
    assert [m.member_id for m in demo.image.members(iid)] == [pid]
    assert other.image.get_member(pid, iid).status == "accepted"
    # the member cannot manage the image
    assert_fault(glance.patch(other, iid, [{"op": "replace", "path": "/name",
                                            "value": "x"}]), 403, "Forbidden")
    other.image.update_member(pid, iid, status="rejected")
    assert iid not in ids()
    demo.image.remove_member(pid, iid)
    assert_fault(glance.request(other, "GET", f"/v2/images/{iid}"), 404, "Not Found")


def test_members_need_shared(glance, demo, other, image):
    glance.patch(demo, image["id"], [{"op": "replace", "path": "/visibility",
                                      "value": "private"}])
    resp = glance.request(demo, "POST", f"/v2/images/{image['id']}/members",
                          json={"member": other.project_id_})
    assert "shared" in assert_fault(resp, 403, "Forbidden")
