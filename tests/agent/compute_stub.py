"""A tiny in-memory stand-in for the controller's compute routes (the contract in
kumo/agent/compute.py), for testing the ComputeAgent without the Compute API."""
from __future__ import annotations

import copy
import threading
import time
import uuid

from kumo.agent import client as api


def instance(host: str, n: int = 1, **over) -> dict:
    """A desired instance as ``GET /compute/kumo/v1/state`` renders it."""
    iid = str(uuid.uuid4())
    inst = {"id": iid, "name": f"instance-{n:08x}", "display_name": f"vm{n}",
            "hostname": f"vm{n}", "project_id": "p", "user_id": "u", "host": host,
            "image": {"id": "img", "container_format": "bare", "disk_format": "raw",
                      "size": 0, "checksum": None, "kumo_rootfs": "tar"},
            "flavor": {"vcpus": 1, "ram": 64, "disk": 1}, "power": "on",
            "reboot_seq": 0, "reboot_type": "SOFT", "rebuild_seq": 0,
            "ports": [], "user_data": None, "revision": 1}
    inst.update(over)
    return inst


class StubCompute:
    """``snapshot``/``changes``/``report_status``/``heartbeat`` like ComputeClient;
    :meth:`put`/:meth:`delete` change the desired state; :attr:`statuses` and
    :attr:`beats` record what agents sent."""

    def __init__(self):
        self._cond = threading.Condition()
        self.revision = 1
        self.instances: dict[str, dict] = {}
        self.log: list[dict] = []
        self.statuses: list[tuple[str, dict]] = []
        self.beats: list[dict] = []
        self.uploads: list[tuple] = []
        self.failures: list[tuple] = []
        self.refuse: int | None = None

    def put(self, inst: dict) -> dict:
        with self._cond:
            self.revision += 1
            inst = copy.deepcopy(inst)
            inst["revision"] = self.revision
            self.instances[inst["id"]] = inst
            self.log.append({"revision": self.revision, "resource_type": "instance",
                             "resource_id": inst["id"], "op": "update",
                             "host": inst["host"]})
            self._cond.notify_all()
            return inst

    def update(self, iid: str, **changes) -> dict:
        with self._cond:
            inst = copy.deepcopy(self.instances[iid])
        inst.update(changes)
        return self.put(inst)

    def delete(self, iid: str) -> None:
        with self._cond:
            self.revision += 1
            inst = self.instances.pop(iid)
            self.log.append({"revision": self.revision, "resource_type": "instance",
                             "resource_id": iid, "op": "delete", "host": inst["host"]})
            self._cond.notify_all()

    # -- the client side -----------------------------------------------------------
    def snapshot(self, host: str) -> dict:
        with self._cond:
            return {"revision": self.revision,
                    "instances": [copy.deepcopy(i) for i in self.instances.values()
                                  if i["host"] == host]}

    def changes(self, since: int, host: str, wait: float = 0.0) -> dict:
        deadline = time.monotonic() + min(wait, 30)
        with self._cond:
            while True:
                out = [c for c in self.log if c["revision"] > since and c["host"] == host]
                left = deadline - time.monotonic()
                if out or left <= 0:
                    return {"revision": self.revision, "changes": out}
                self._cond.wait(left)

    #: when True, a status post carrying ``diagnostics`` is refused (400) unrecorded
    refuse_diagnostics = False

    def report_status(self, iid: str, body: dict) -> None:
        with self._cond:
            inst = self.instances.get(iid)
            if inst is None:
                raise api.NotFound(iid)
            if self.refuse_diagnostics and body.get("diagnostics") is not None:
                raise api.ControllerError(400, "bad diagnostics")
            self.statuses.append((iid, copy.deepcopy(body)))
            if inst["host"] != body["host"]:
                raise api.ControllerError(409, "not on this host")

    def heartbeat(self, body: dict) -> None:
        with self._cond:
            self.beats.append(copy.deepcopy(body))

    def upload_snapshot(self, iid: str, image_id: str, host: str, path: str) -> None:
        """Record the packed snapshot's bytes in :attr:`uploads` (``refuse``: answer
        that status instead, as the API does for a deleted image)."""
        if self.refuse:
            raise api.NotFound(image_id) if self.refuse == 404 else \
                api.ControllerError(self.refuse, "refused")
        with open(path, "rb") as f:
            data = f.read()
        with self._cond:
            self.uploads.append((iid, image_id, host, data))

    def snapshot_failed(self, iid: str, image_id: str, host: str, error: str) -> None:
        with self._cond:
            self.failures.append((iid, image_id, host, error))

    def last_status(self, iid: str) -> dict | None:
        with self._cond:
            for sid, body in reversed(self.statuses):
                if sid == iid:
                    return body
        return None

    def consoles(self, iid: str) -> list[str]:
        with self._cond:
            return [b["console"] for sid, b in self.statuses
                    if sid == iid and b["console"] is not None]
