"""The netns compute driver's NICs (:mod:`kumo.agent.virt.netns`).

- **Plugging**: per port ``i`` a veth ``tap<port-id[:11]>`` in the host's root namespace
  (unattached: the L2 network driver plugs it) <-> ``eth<i>`` inside the instance's
  namespace, with the port's MAC and MTU (:meth:`Nics.plug`).
- **Re-plugging**: :meth:`Nics.watch` follows netlink link events of the host's
  namespace and requeues an instance the moment one of its taps is deleted (by hand, or
  with its ``eth<i>``: a veth pair goes as a whole); the reconcile makes the pair again
  and, when the instance runs, :func:`replug` does what a NIC hot-plug does in a guest:
  it runs the guest's DHCP client once on the new ``eth<i>`` (:data:`GUEST_REPLUG`).
"""
from __future__ import annotations

import logging
import subprocess
import threading
from pathlib import Path

from kumo.agent.dataplane import links, names
from kumo.agent.dataplane import netns as nsmod

LOG = logging.getLogger(__name__)

#: Run inside a running instance (all its namespaces and root) when its NIC ``$1`` was
#: made again: bring it up and ask for a lease once, as a guest's hot-plug handling
#: would (the image's own long-running DHCP client keeps renewing afterwards).
GUEST_REPLUG = r'''
i=$1
echo "kumo: $i re-plugged; asking for a DHCP lease"
ip link set "$i" up 2>/dev/null
if command -v udhcpc >/dev/null 2>&1 && [ -x /usr/share/udhcpc/default.script ]; then
  exec udhcpc -f -q -n -i "$i" -t 20 -T 1 -O mtu -O staticroutes -O domain
fi
echo "kumo: no DHCP client (udhcpc and /usr/share/udhcpc/default.script) in the image"
'''
REPLUG_TIMEOUT_S = 60.0


class Nics:
    """The instances' veth pairs on one host (``where``, a
    :class:`~kumo.agent.dataplane.netns.Host`), and which instance each tap belongs to
    (for :meth:`watch`). Thread-safe."""

    def __init__(self, where: nsmod.Host):
        self.where = where
        self._lock = threading.Lock()
        #: tap name -> instance id of every NIC plugged, for :meth:`watch`
        self._taps: dict[str, str] = {}

    def plug(self, meta: dict, ports: list[dict]) -> list[str]:
        """Make the veth pairs of the instance ``meta`` (its ``id``, ``name`` = its
        namespace, ``ports`` = the port ids plugged before, updated to ``ports``' ids)
        for ``ports`` (``id``, ``mtu``, ``mac_address``), and remove the taps of ports
        no longer there; returns the ``eth<i>`` of NICs that had been plugged before
        and were made again (their tap had gone)."""
        ns = nsmod.ensure_netns(self.where, meta["name"])
        root = self.where.root
        old = {p for p in meta.get("ports", [])}
        remade = []
        for i, port in enumerate(ports):
            tap, eth = names.tap(port["id"]), f"eth{i}"
            with self._lock:
                self._taps[tap] = meta["id"]
            before = links.get_link(root, tap)
            peer = links.get_link(ns, eth)
            mac = (port.get("mac_address") or "").lower() or None
            # the MAC is set before eth comes up: its fe80:: address is the EUI-64 of
            # the port's MAC, as anti-spoofing expects
            now = links.ensure_veth(root, tap, eth, peer_ns=ns,
                                    mtu=int(port.get("mtu") or 1500), peer_mac=mac)
            if port["id"] in old and (before is None or peer is None
                                      or before.index != now.index):
                remade.append(eth)
        self.unplug(old - {p["id"] for p in ports})
        meta["ports"] = [p["id"] for p in ports]
        return remade

    def unplug(self, port_ids) -> None:
        """Delete the taps of ``port_ids`` (their ``eth<i>`` go with them) and forget
        them."""
        for port in port_ids:
            with self._lock:
                self._taps.pop(names.tap(port), None)
            links.delete_link(self.where.root, names.tap(port))

    def watch(self, requeue, stop) -> None:
        """Requeue an instance (``requeue(instance_id)``) the moment one of its taps is
        deleted (netlink link events in the host's namespace), until ``stop`` is set."""
        def on_link(name: str, appeared: bool) -> None:
            if not appeared:
                with self._lock:
                    iid = self._taps.get(name)
                if iid is not None:
                    requeue(iid)
        links.watch_links(self.where.root, on_link, stop)


def replug(enter_argv: list[str], console_log: Path, iid: str, eth: str) -> None:
    """Run :data:`GUEST_REPLUG` for ``eth`` inside the running instance ``iid``
    (``enter_argv``: the command prefix that enters it), in the background: output
    appended to ``console_log``, killed after :data:`REPLUG_TIMEOUT_S`."""
    with open(console_log, "ab") as log:
        proc = subprocess.Popen(enter_argv + ["/bin/sh", "-c", GUEST_REPLUG, "replug", eth],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    LOG.info("instance %s: %s re-plugged; the guest's DHCP client runs (pid %d)",
             iid, eth, proc.pid)

    def reap():
        try:
            proc.wait(REPLUG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    threading.Thread(target=reap, name=f"replug-{iid[:8]}", daemon=True).start()
