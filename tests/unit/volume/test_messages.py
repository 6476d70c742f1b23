"""User messages in process (:mod:`kumo.volume.messages`) and the capabilities
filter (:mod:`kumo.volume.scheduling`), on SQLite: an attachment that times out
leaves Cinder's attach message for the volume's project; expired messages are hidden
and removed by the next one recorded; recording never fails its caller; the text is
Cinder's; extra specs match capabilities as Cinder's ``extra_specs_ops`` does."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from kumo import db as kdb
from kumo.common.timeutils import utcnow
from kumo.config import Settings
from kumo.volume import messages as msgs
from kumo.volume import models, scheduling
from kumo.volume.errors import NotFoundError
from kumo.volume.manager import VolumeManager


class Ctx:
    def __init__(self, project_id: str, is_admin: bool = False):
        self.project_id, self.is_admin = project_id, is_admin


def test_attach_timeout_leaves_a_message(manager):
    m = manager
    vid, when = str(uuid.uuid4()), utcnow() - dt.timedelta(seconds=600)
    with m.write() as s:
        vol = models.Volume(id=vid, project_id="p1", size=1, status="attaching",
                            attach_status="detached", availability_zone="nova",
                            host=m.host_of("b1"), volume_type_id=models.DEFAULT_TYPE_ID,
                            created_at=when, updated_at=when)
        vol.attachments.append(models.Attachment(
            id=str(uuid.uuid4()), instance_uuid=str(uuid.uuid4()), attached_host="h",
            mountpoint="/dev/vdb", attach_status="attaching", attach_mode="rw",
            connector={"host": "h"}, complete_on_report=True, created_at=when,
            updated_at=when))
        s.add(vol)
    assert [st for _, st in m.attachments.expire(300)] == ["error_attaching"]
    rows, more = m.messages.list(Ctx("p1"), {})
    assert not more and len(rows) == 1
    msg = rows[0]
    assert (msg.resource_uuid, msg.resource_type, msg.event_id) == (
        vid, "VOLUME", "VOLUME_VOLUME_002_021")
    assert msgs.user_message(msg) == "attach volume:Failed to attach volume."
    assert msg.request_id.startswith("req-")  # a fresh one: no request failed it
    assert m.messages.list(Ctx("p2"), {})[0] == []
    assert [r.id for r in m.messages.list(Ctx("p2", is_admin=True), {})[0]] == [msg.id]


def test_expired_messages_are_hidden_then_removed(manager):
    m = manager
    old = m.messages.record(msgs.SCHEDULE_ALLOCATE_VOLUME, msgs.NO_BACKEND_AVAILABLE,
                            resource_uuid="v1", project_id="p", request_id="req-1")
    with m.write() as s:
        s.get(models.Message, old).expires_at = utcnow() - dt.timedelta(seconds=1)
    assert m.messages.list(Ctx("p"), {})[0] == []
    with pytest.raises(NotFoundError):
        m.messages.get(Ctx("p"), old)
    with pytest.raises(NotFoundError):
        m.messages.delete(Ctx("p"), old)
    with m.read() as s:  # still stored until the next message is recorded
        assert s.get(models.Message, old) is not None
    new = m.messages.record(msgs.EXTEND_VOLUME, msgs.DRIVER_FAILED_EXTEND,
                            resource_uuid="v1", project_id="p", request_id="req-2")
    with m.read() as s:
        assert s.get(models.Message, old) is None
        row = s.get(models.Message, new)
        assert (row.expires_at - row.created_at).total_seconds() == 2592000


def test_record_needs_a_project_and_never_raises(manager, monkeypatch):
    m = manager
    assert m.messages.record(msgs.SCHEDULE_ALLOCATE_VOLUME) is None  # no request
    monkeypatch.setattr(m.db, "session", lambda *a, **k: 1 / 0)
    assert m.messages.record(msgs.SCHEDULE_ALLOCATE_VOLUME, project_id="p") is None


def test_user_message_text():
    row = models.Message(action_id="001", detail_id="003")
    assert msgs.user_message(row) == \
        "schedule allocate volume:Could not find any available weighted backend."
    assert msgs.user_message(models.Message(action_id="999", detail_id="999")) == \
        "unknown action:An unknown error occurred."


@pytest.mark.parametrize("specs, ok", [
    ({}, True), ({"volume_backend_name": "b1"}, True),
    ({"volume_backend_name": "b2"}, False),
    ({"capabilities:volume_backend_name": "b1"}, True),
    ({"capabilities:volume_backend_name": "b2"}, False),
    ({"storage_protocol": "file", "vendor_name": "Kumo"}, True),
    ({"storage_protocol": "iSCSI"}, False), ({"no_such_capability": "x"}, False),
    ({"hw:anything": "x", "qos:x": "1"}, True),  # other scopes are not ours
    ({"multiattach": "<is> True"}, True), ({"thin_provisioning_support": "<is> False"},
                                          False),
    ({"driver_version": ">= 0.5"}, True), ({"driver_version": "== 2"}, False),
    ({"driver_version": "s== 1.0"}, True), ({"vendor_name": "<in> Ku"}, True),
    ({"storage_protocol": "<or> iSCSI <or> file"}, True),
    ({"storage_protocol": "<or> iSCSI <or> FC"}, False),
    ({"driver_version": ">= x"}, False),
    ({"vendor_name": "<all-in> Ku mo"}, True), ({"vendor_name": "<all-in> Ku x"}, False),
])
def test_capabilities_filter(specs, ok):
    assert scheduling.satisfies(scheduling.capabilities("b1"), specs) is ok
    assert scheduling.candidates(["b1"], specs) == (["b1"] if ok else [])


def test_schedule_prefers_the_default_backend(tmp_path):
    url = f"sqlite:///{tmp_path / 'kumo.db'}"
    kdb.upgrade(url)
    m = VolumeManager(Settings(state_dir=str(tmp_path), volume_backends=[
        "b1:fake", "b2:fake"]), kdb.Database(url, pool_size=2))
    try:
        def vtype(**specs):
            t = models.VolumeType(name="t")
            t.extra_specs = [models.TypeExtraSpec(key=k, value=v) for k, v in specs.items()]
            return t
        assert m.schedule(vtype()) == "b1"
        assert m.schedule(vtype(volume_backend_name="b2")) == "b2"
        assert m.schedule(vtype(vendor_name="Kumo")) == "b1"
        assert m.schedule(vtype(vendor_name="other")) is None
    finally:
        m.worker.shutdown()
        m.backup_worker.shutdown()
