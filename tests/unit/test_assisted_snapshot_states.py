"""Nova's state checks of ``os-assisted-volume-snapshots``
(:func:`kumo.compute.api.assisted_snapshots._server`) on servers the API tests cannot
hold still: a task in progress, never launched, and a ``merge_target_file`` delete of
a server that is not active (all 400 with Nova's InstanceInvalidState words)."""
from __future__ import annotations

import contextlib
import datetime as dt
from types import SimpleNamespace

import pytest

from kumo.common import exceptions as exc
from kumo.compute.api.assisted_snapshots import _server

LAUNCHED = dt.datetime(2026, 1, 1)


def _req(*rows):
    by_id = {r.id: r for r in rows}

    def get(_s, ctx, server_id):
        assert ctx is None  # every project's servers: the caller is a service
        if server_id not in by_id:
            raise exc.NotFound("gone")
        return by_id[server_id]
    compute = SimpleNamespace(read=contextlib.nullcontext,
                              servers=SimpleNamespace(get=get))
    volumes = SimpleNamespace(attachments=SimpleNamespace(
        servers_of=lambda vid: [r.id for r in rows] + ["not-a-server"]))
    return SimpleNamespace(cloud=SimpleNamespace(compute=compute, volumes=volumes))


def _row(**attrs):
    return SimpleNamespace(**{"id": "s1", "host": "fake-0", "task_state": None,
                              "launched_at": LAUNCHED, "vm_state": "active", **attrs})


def test_ready_server_passes():
    row = _row()
    assert _server(_req(row), "v1", "do_volume_snapshot_create") is row
    assert _server(_req(row), "v1", "do_volume_snapshot_delete", merge=True) is row
    stopped = _row(vm_state="stopped")  # any vm_state without merge_target_file
    assert _server(_req(stopped), "v1", "do_volume_snapshot_delete") is stopped


@pytest.mark.parametrize("attrs,merge,message", [
    ({"task_state": "rebooting"}, False,
     "Instance s1 in task_state rebooting. Cannot do_volume_snapshot_create while the "
     "instance is in this state."),
    ({"launched_at": None}, False,
     "Instance s1 in launched_at None. Cannot do_volume_snapshot_create while the "
     "instance is in this state."),
    ({"vm_state": "stopped"}, True,
     "Instance s1 in vm_state stopped. Cannot volume_snapshot_delete while the "
     "instance is in this state."),
    ({"host": None, "task_state": "spawning"}, False, "Instance s1 is not ready"),
])
def test_invalid_states_are_400(attrs, merge, message):
    with pytest.raises(exc.BadRequest) as e:
        _server(_req(_row(**attrs)), "v1", "do_volume_snapshot_create", merge=merge)
    assert e.value.message == message
