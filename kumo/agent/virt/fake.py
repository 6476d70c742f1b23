"""The ``fake`` compute driver: instances "run" with no process, for tests and scale
benchmarks (many simulated hosts in one ``kumo up --fake-compute-hosts N``).

It keeps each instance's realized state in memory and writes a short console log, so
the API's state machine (BUILD -> ACTIVE, stop/start, pause, reboot, rebuild, console
output) is exercised end to end. Test hooks: :meth:`FakeComputeDriver.crash` (init
"dies"), ``fail_boot=True`` (every boot fails with a :class:`VirtError`, as on a broken
host: the API's reschedule path; setting ``agent_compute_fake_fail_hosts``), and
``instances=`` to share state across an agent restart.
"""
from __future__ import annotations

import threading
import time

from kumo.agent.virt import (CRASHED, NOSTATE, PAUSED, RUNNING, SHUTDOWN, ComputeDriver,
                             InstanceStatus, VirtError, register_driver)

POWER = {"on": RUNNING, "off": SHUTDOWN, "paused": PAUSED}


@register_driver("fake")
class FakeComputeDriver(ComputeDriver):
    """Instances are dicts in :attr:`instances` (``{id: {"name", "power_state",
    "reboot_seq", "rebuild_seq", "power", "boots", "console": [lines], "volumes",
    "config_drive": bool (recorded, nothing is built)}}``).
    :attr:`calls` logs ``(op, id)`` with op ``boot``, ``reboot``, ``rebuild``,
    ``power`` (a power change) or ``destroy``."""

    name = "fake"
    hypervisor_type = "fake"

    def __init__(self, host: str, settings=None, instances: dict | None = None,
                 fail_boot: bool | None = None, **_):
        self.host = host
        self.instances: dict[str, dict] = instances if instances is not None else {}
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        if fail_boot is None:
            fail_boot = host in list(getattr(settings, "agent_compute_fake_fail_hosts",
                                             None) or [])
        self.fail_boot = fail_boot
        self.vcpus = int(getattr(settings, "agent_compute_fake_vcpus", 64))
        self.memory_mb = int(getattr(settings, "agent_compute_fake_memory_mb", 131072))
        self.local_gb = int(getattr(settings, "agent_compute_fake_local_gb", 2048))

    # -- the contract ------------------------------------------------------------
    def reconcile(self, instance: dict) -> InstanceStatus:
        iid = instance["id"]
        power = instance.get("power") or "on"
        if power not in POWER:
            raise VirtError(f"unknown power {power!r}")
        reboot_seq = int(instance.get("reboot_seq") or 0)
        rebuild_seq = int(instance.get("rebuild_seq") or 0)
        with self._lock:
            cur = self.instances.get(iid)
            if cur is not None:  # "attached" at once (nothing to map)
                cur["volumes"] = sorted(v["volume_id"] for v in
                                        instance.get("volumes") or [])
            if cur is None:
                if self.fail_boot:
                    raise VirtError(f"fake host {self.host} refuses to boot instances")
                cur = self.instances[iid] = {
                    "name": instance.get("name") or iid, "power": power,
                    "power_state": POWER[power], "reboot_seq": reboot_seq,
                    "rebuild_seq": rebuild_seq, "boots": 0, "console": [],
                    "volumes": sorted(v["volume_id"] for v in
                                      instance.get("volumes") or []),
                    "config_drive": bool(instance.get("config_drive"))}
                self._boot(cur, iid, instance, "boot")
                if power != "on":
                    self._log(cur, f"power {power}")
            else:
                if rebuild_seq != cur["rebuild_seq"]:
                    cur["rebuild_seq"] = rebuild_seq
                    cur["reboot_seq"] = reboot_seq
                    self._boot(cur, iid, instance, "rebuild")
                elif reboot_seq != cur["reboot_seq"]:
                    cur["reboot_seq"] = reboot_seq
                    if power == "on":
                        self._boot(cur, iid, instance, "reboot")
                if power != cur["power"]:
                    cur["power"] = power
                    if power == "on" and cur["power_state"] == PAUSED:
                        cur["power_state"] = RUNNING
                        self._log(cur, "unpaused")
                    elif power == "on":
                        self._boot(cur, iid, instance, "power")
                    else:
                        cur["power_state"] = POWER[power]
                        self._log(cur, f"power {power}")
                        self.calls.append(("power", iid))
            flavor = instance.get("flavor") or {}
            cur.update(vcpus=int(flavor.get("vcpus") or 0), ram=int(flavor.get("ram") or 0),
                       ports=[p["id"] for p in instance.get("ports") or []],
                       devices=sorted(v.get("device") or "" for v in
                                      instance.get("volumes") or [] if not v.get("boot")))
            return self._status(cur)

    def _boot(self, cur: dict, iid: str, instance: dict, op: str) -> None:
        cur["boots"] += 1
        cur["started_at"] = time.time()
        cur["power_state"] = RUNNING if cur["power"] == "on" else POWER[cur["power"]]
        image = (instance.get("image") or {}).get("id")
        self._log(cur, f"{op}: {cur['name']} ({instance.get('hostname') or ''}) "
                       f"image {image} boot #{cur['boots']}")
        for port in instance.get("ports") or []:
            ips = ",".join(ip.get("ip_address", "") for ip in port.get("fixed_ips") or [])
            self._log(cur, f"eth: {port.get('mac_address')} {ips}")
        if cur.get("config_drive"):
            self._log(cur, "config drive: /dev/sr0 (config-2)")
        self.calls.append((op, iid))

    @staticmethod
    def _log(cur: dict, line: str) -> None:
        cur["console"].append(f"{time.strftime('%H:%M:%S')} fake-init: {line}")
        del cur["console"][:-200]

    @staticmethod
    def _status(cur: dict) -> InstanceStatus:
        return InstanceStatus(cur["power_state"], cur["reboot_seq"], cur["rebuild_seq"],
                              volumes=tuple(cur.get("volumes", ())))

    def destroy(self, instance_id: str) -> None:
        with self._lock:
            if self.instances.pop(instance_id, None) is not None:
                self.calls.append(("destroy", instance_id))

    def status(self, instance_id: str) -> InstanceStatus:
        with self._lock:
            cur = self.instances.get(instance_id)
            return InstanceStatus(NOSTATE) if cur is None else self._status(cur)

    def console(self, instance_id: str, max_bytes: int = 65536) -> str | None:
        with self._lock:
            cur = self.instances.get(instance_id)
            if cur is None:
                return None
            text = "".join(line + "\n" for line in cur["console"])
        return text.encode()[-max_bytes:].decode(errors="replace")

    def diagnostics(self, instance_id: str) -> dict | None:
        """Honest zeros: nothing runs, so no CPU time, memory, packets or I/O were
        used; the limits, NICs and disks are the instance's."""
        with self._lock:
            cur = self.instances.get(instance_id)
            if cur is None:
                return None
            running = cur["power_state"] in (RUNNING, PAUSED)
            zeros = dict.fromkeys(("rx_octets", "rx_packets", "rx_errors", "rx_drop",
                                   "tx_octets", "tx_packets", "tx_errors", "tx_drop"), 0)
            return {
                "started_at": cur.get("started_at") if running else None,
                "cpu_time_ns": 0, "vcpu_times_ns": [0] * cur.get("vcpus", 0),
                "memory_used_bytes": 0, "memory_max_bytes": cur.get("ram", 0) << 20,
                "memory_rss_bytes": 0,
                "nics": [{"port_id": p, **zeros} for p in cur.get("ports", [])],
                "disks": [{"name": d, "read_bytes": 0, "read_requests": 0,
                           "write_bytes": 0, "write_requests": 0, "errors_count": 0}
                          for d in ["vda", *cur.get("devices", [])]]}

    def snapshot(self, instance_id: str, dest: str) -> None:
        """A tiny gzip'd rootfs tar (``/sbin/init`` and ``/etc/kumo-fake-snapshot``
        naming the instance): nothing runs, but the image pipeline is exercised."""
        import io
        import tarfile
        with self._lock:
            cur = self.instances.get(instance_id)
            if cur is None:
                raise VirtError(f"instance {instance_id} is not on fake host {self.host}")
            boots = cur["boots"]
        with tarfile.open(dest, "w:gz") as tar:
            for name, text, mode in (
                    ("sbin/init", "#!/bin/sh\nexit 0\n", 0o755),
                    ("etc/kumo-fake-snapshot", f"{instance_id} boot #{boots}\n", 0o644)):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        self.calls.append(("snapshot", instance_id))

    def list_instances(self) -> dict[str, str]:
        with self._lock:
            return {i: cur["name"] for i, cur in self.instances.items()}

    def host_resources(self) -> dict:
        return {"vcpus": self.vcpus, "memory_mb": self.memory_mb,
                "local_gb": self.local_gb, "hypervisor_hostname": self.host,
                "host_ip": "127.0.0.1"}

    def configurations(self) -> dict:
        return {"driver": "fake", "fail_boot": self.fail_boot}

    # -- test hooks ----------------------------------------------------------------
    def crash(self, instance_id: str, power_state: str = CRASHED) -> None:
        """Simulate init dying on its own (``crashed``) or powering off (``shutdown``)."""
        with self._lock:
            cur = self.instances[instance_id]
            cur["power_state"] = power_state
            self._log(cur, f"init went {power_state}")
