"""Attachments of Nova's flow whose compute agent never reports do not hang
(:meth:`kumo.volume.attachments.Attachments.expire`): past the timeout an
``attaching`` one is ``error_attaching`` (the volume too) and leaves the compute feed,
a ``detaching`` one is ``attached`` again (the volume ``in-use``); younger ones and v3
API attachments (waiting for ``os-complete``) are left alone. The agent's report
completes only Nova's attachments. In process, on SQLite."""
from __future__ import annotations

import datetime as dt
import uuid

from kumo.common.timeutils import utcnow
from kumo.volume import models


def _volume(m, server: str, status: str, nova: bool = True, age_s: float = 0) -> str:
    vid = str(uuid.uuid4())
    when = utcnow() - dt.timedelta(seconds=age_s)
    with m.write() as s:
        vol = models.Volume(id=vid, project_id="p", size=1, status="available",
                            attach_status="detached", availability_zone="nova",
                            host=m.host_of("b1"), volume_type_id=models.DEFAULT_TYPE_ID,
                            created_at=when, updated_at=when)
        vol.attachments.append(models.Attachment(
            id=str(uuid.uuid4()), instance_uuid=server, attached_host="h",
            mountpoint="/dev/vdb", attach_status=status, attach_mode="rw",
            connector={"host": "h"}, complete_on_report=nova, created_at=when,
            updated_at=when))
        m.attachments._volume_status(vol)
        s.add(vol)
    return vid


def _state(m, vid: str) -> tuple[str, list[str]]:
    with m.read() as s:
        vol = s.get(models.Volume, vid)
        return vol.status, [a.attach_status for a in vol.attachments]


def test_expire(manager):
    m = manager
    server = str(uuid.uuid4())
    stuck_attach = _volume(m, server, "attaching", age_s=600)
    stuck_detach = _volume(m, server, "detaching", age_s=600)
    young = _volume(m, server, "attaching", age_s=10)
    api = _volume(m, server, "attaching", nova=False, age_s=600)
    assert _state(m, stuck_attach) == ("attaching", ["attaching"])
    assert _state(m, stuck_detach) == ("detaching", ["detaching"])
    seen = []
    m.attachments.listeners.append(seen.append)

    done = m.attachments.expire(300)
    assert sorted(st for _, st in done) == ["attached", "error_attaching"]
    assert _state(m, stuck_attach) == ("error_attaching", ["error_attaching"])
    assert _state(m, stuck_detach) == ("in-use", ["attached"])
    assert _state(m, young) == ("attaching", ["attaching"])
    assert _state(m, api) == ("attaching", ["attaching"])
    assert seen == [server]  # the server's host is told (the feed drops the failed one)
    with m.read() as s:
        feed = m.attachments.for_instances(s, [server])[server]
    assert stuck_attach not in {v["volume_id"] for v in feed}
    assert m.attachments.expire(300) == []  # nothing twice

    # the agent's report completes Nova's attachment, never the v3 API's
    m.attachments.agent_report(server, {young, api})
    assert _state(m, young) == ("in-use", ["attached"])
    assert _state(m, api) == ("attaching", ["attaching"])
