"""Compute (virt) drivers: the contract, the registry and the shared types.

A compute driver runs the instances the controller placed on one host; the
:class:`kumo.agent.compute.ComputeAgent` owns watching, queueing, retries, heartbeats and
status reports. The desired instance is the controller's rendering from
``GET /compute/kumo/v1/state?host=H`` (see ``docs`` of :mod:`kumo.agent.compute`)::

    {"id", "name": "instance-0000000a", "display_name", "hostname", "project_id",
     "user_id", "host", "image": {"id", "container_format", "disk_format", "size",
     "checksum", "kumo_rootfs": "tar" | None}, "flavor": {"vcpus", "ram" (MiB),
     "disk" (GiB)}, "power": "on" | "off" | "paused", "reboot_seq", "reboot_type":
     "SOFT" | "HARD", "rebuild_seq", "ports": [{"id", "mac_address", "mtu",
     "network_id", "fixed_ips": [...]}], "user_data": base64 | None, "revision",
     "volumes": [{"volume_id", "attachment_id", "device": "vdb", "path": the volume's
     backend file | None, "mode": "rw" | "ro", "boot": bool (``vda``, the root)}]}

Drivers: ``fake`` (:mod:`kumo.agent.virt.fake`, nothing runs) and ``netns``
(:mod:`kumo.agent.virt.netns`, namespaces running the image's init).
"""
from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

from kumo.agent.registry import Registry

#: The power states a driver reports (the contract's ``power_state`` values).
RUNNING, SHUTDOWN, PAUSED, CRASHED, NOSTATE = (
    "running", "shutdown", "paused", "crashed", "nostate")
POWER_STATES = (RUNNING, SHUTDOWN, PAUSED, CRASHED, NOSTATE)


class VirtError(Exception):
    """The instance cannot be realized on this host (bad image, checksum mismatch, no
    rootfs, the host refuses): reported to the API as ``error`` (it reschedules or sets
    ERROR) and not retried until the desired instance changes. Any other exception a
    driver raises is taken as transient and retried with backoff."""


@dataclasses.dataclass(frozen=True)
class InstanceStatus:
    """What a driver observes of one instance.

    - ``power_state``: one of :data:`POWER_STATES`; ``crashed`` = init died on its own
      (killed or non-zero exit), ``shutdown`` = stopped (asked, or init exited 0),
      ``nostate`` = the driver knows nothing of it.
    - ``reboot_seq``/``rebuild_seq``: the last reboot/rebuild request it realized.
    - ``error``: a failed boot or operation (``None`` when fine).
    - ``volumes``: the ids of the desired ``volumes`` the instance has as block
      devices now (sorted), or ``None`` when the driver does not say; the API completes
      attachments (``attaching`` -> ``attached``) and detaches (``detaching`` ->
      gone) by it.
    """

    power_state: str
    reboot_seq: int = 0
    rebuild_seq: int = 0
    error: str | None = None
    volumes: tuple | None = None


class ComputeDriver(abc.ABC):
    """A compute driver. The contract every implementation keeps (the shared suite is
    ``tests/agent/test_virt_contract.py``):

    - ``name`` (registry name, ``kumo agent --compute-driver NAME``) and
      ``hypervisor_type`` (``"fake"``, ``"namespace"``: shown as the hypervisor's type).
    - :meth:`reconcile` is **level-triggered and idempotent**: given the desired
      instance, it makes it exist and match ``power`` (``on`` running, ``off`` stopped,
      ``paused`` frozen), realizes a new ``reboot_seq`` (restart init: SOFT = SIGTERM
      then start, HARD = SIGKILL then start) and a new ``rebuild_seq`` (wipe the root
      filesystem, boot again from ``image``), and returns the status. Calling it again
      with the same instance changes nothing. An instance that went down on its own
      (shutdown or crash) after being realized is **not** restarted by a reconcile with
      unchanged ``power``/``reboot_seq``/``rebuild_seq``: it is reported, and the API
      decides (a new power ``on`` after ``off``, or a reboot, starts it again).
      Raises :class:`VirtError` for failures that retrying will not fix; anything else
      is retried. Never called concurrently for one instance; different instances run
      in parallel.
    - :meth:`destroy` removes everything of the instance (processes, namespaces, links,
      cgroups, files); idempotent, works from the id alone (after an agent restart too).
    - :meth:`status` observes without changing anything; cheap (the agent polls it
      every ``agent_compute_status_interval_s``), safe to call at any time.
    - :meth:`console` returns the tail of the console log (``None`` if there is none).
    - :meth:`diagnostics` (optional) returns the instance's counters (CPU, memory,
      NICs, disks) for Nova's server diagnostics; cheap and observing only, as status.
    - :meth:`list_instances` lists the instances the driver holds on this host, also
      those realized before an agent restart (they are re-adopted, not restarted).
    - :meth:`cleanup_orphans` destroys held instances whose id is not desired and
      stray objects named like instances, only those (never anything else).
    - :meth:`watch` (optional) requeues instances whose host objects changed.
    - :meth:`stop` releases the driver's resources; instances keep running.
    """

    name: str = ""
    hypervisor_type: str = ""

    @abc.abstractmethod
    def reconcile(self, instance: dict) -> InstanceStatus:
        """Make ``instance`` (the desired rendering) real; returns its status."""

    @abc.abstractmethod
    def destroy(self, instance_id: str) -> None:
        """Remove every trace of the instance; nothing if it does not exist."""

    @abc.abstractmethod
    def status(self, instance_id: str) -> InstanceStatus:
        """The instance's current status (``nostate`` when unknown)."""

    def console(self, instance_id: str, max_bytes: int = 65536) -> str | None:
        """The last ``max_bytes`` bytes of the console log (decoded, errors replaced),
        or ``None`` when the instance has none."""
        return None

    @abc.abstractmethod
    def list_instances(self) -> dict[str, str]:
        """``{instance_id: name}`` of the instances this driver holds on the host."""

    def cleanup_orphans(self, desired: dict[str, dict]) -> list[str]:
        """Destroy held instances whose id is not in ``desired`` (``{id: instance}``,
        all the host's desired instances) and remove stray objects that carry an
        instance name (``instance-*``) of no desired instance; returns the ids
        destroyed. The agent first destroys undesired held instances one by one under
        their own locks, then calls this for the leftovers."""
        gone = [i for i in self.list_instances() if i not in desired]
        for instance_id in gone:
            self.destroy(instance_id)
        return gone

    @abc.abstractmethod
    def host_resources(self) -> dict:
        """The host's capacity for the heartbeat: ``{"vcpus": int, "memory_mb": int,
        "local_gb": int, "hypervisor_hostname": str, "host_ip": str}``."""

    def host_uptime(self) -> dict:
        """The host's facts for Nova's hypervisor uptime, sent with the heartbeat:
        ``{"boot_time": int seconds since the epoch, "load_average": [1, 5, 15 minute
        averages], "users": int}``, or ``{}`` when the driver cannot tell (the API
        then answers as Nova over a driver without ``get_host_uptime``: 501 / null).
        Default: this machine's (:func:`kumo.agent.virt.uptime.machine_uptime`), true
        for every driver whose host runs on this machine."""
        from kumo.agent.virt.uptime import machine_uptime
        return machine_uptime()

    def diagnostics(self, instance_id: str) -> dict | None:
        """What the driver can count of the instance, for Nova's server diagnostics
        (the agent sends it with a status report every
        ``agent_compute_diagnostics_interval_s`` when it changed), or ``None`` when it
        holds no such instance (the default: the driver counts nothing)::

            {"started_at": float (seconds since the epoch its init started) | None
                 (not running),
             "cpu_time_ns": int | None, "vcpu_times_ns": [int | None per vCPU],
             "memory_used_bytes", "memory_max_bytes", "memory_rss_bytes": int | None,
             "nics": [{"port_id", "rx_octets", "rx_packets", "rx_errors", "rx_drop",
                       "tx_octets", "tx_packets", "tx_errors", "tx_drop"}],
                 (the guest's view: rx is what it received; int | None each)
             "disks": [{"name": "vda" (the root), "vdb"..., "read_bytes",
                        "read_requests", "write_bytes", "write_requests",
                        "errors_count"}]}

        A value the host cannot read is ``None``, never a made-up figure."""
        return None

    def configurations(self) -> dict:
        """Facts for logs and status (e.g. which limits are enforced)."""
        return {}

    def snapshot(self, instance_id: str, dest: str) -> None:
        """Write the instance's root filesystem to the file ``dest`` in the format
        Kumo's bootable images use (``kumo_rootfs=tar``: a gzip'd tar of the root, owners
        numeric, ``/sbin/init`` inside), for createImage/createBackup/shelve. Called
        after :meth:`reconcile` (a shelve has powered it off), never concurrently with
        it for the instance. :class:`VirtError` when the driver cannot (the default)."""
        raise VirtError(f"the {self.name or 'compute'} driver cannot snapshot instances")

    def watch(self, requeue: Callable[[str], None], stop) -> None:
        """Optional: watch the host until ``stop`` (a ``threading.Event``) is set and
        call ``requeue(instance_id)`` when something an instance depends on changes
        outside the agent (its tap deleted, say), so the next reconcile repairs it
        without waiting for a resync. The agent runs it on its own thread and restarts
        it if it raises. Default: nothing."""

    def stop(self) -> None:
        """Release resources; instances keep running."""


#: The compute drivers (``kumo agent --compute-driver NAME``); the same
#: :class:`~kumo.agent.registry.Registry` code as the data-plane drivers'
#: (:data:`kumo.agent.drivers.DRIVERS`).
DRIVERS: Registry[ComputeDriver] = Registry("compute driver")
#: Class decorator: make a compute driver available as ``name``. The factory is called
#: as ``factory(host=..., settings=..., client=..., where=..., state_dir=...)`` like the
#: data-plane drivers; ``client`` is the :class:`kumo.agent.compute.ComputeClient`
#: (image downloads), ``where`` the :class:`kumo.agent.dataplane.netns.Host` (None: the
#: machine), ``state_dir`` the driver's directory (None:
#: ``<settings.state_dir>/compute/<host>``).
register_driver = DRIVERS.register
available = DRIVERS.available


def build(name: str, host: str, settings=None, *, client=None, where=None,
          state_dir: str | None = None, **extra) -> ComputeDriver:
    """Instantiate compute driver ``name`` for ``host``; ``ValueError`` if unknown."""
    return DRIVERS.create(name, host, settings, client=client, where=where,
                          state_dir=state_dir, **extra)


from kumo.agent.virt import fake as _fake  # noqa: E402,F401 - registers "fake"
from kumo.agent.virt import netns as _netns  # noqa: E402,F401 - registers "netns"
