"""The L3 driver's HA routers (Neutron's ``HaRouter`` and keepalived manager): used
by :class:`kumo.agent.l3.L3Driver` for routers whose ``ha`` is true and whose
``hosts`` name this agent's host.

For such a router, in its ``qrouter-`` namespace (the legs and NAT table are made by
the L3 driver as for a legacy router, without addresses or routes):

- the ``ha-<port[:11]>`` leg (veth <-> ``tap<port[:11]>``, which the L2 driver plugs
  into the HA network's bridge: the HA network is an ordinary VXLAN tenant network),
  holding this host's HA port address (169.254.192.x/18);
- one keepalived (:mod:`kumo.agent.dataplane.keepalived`) doing VRRP over that leg;
  the ``qr-``/``qg-`` addresses, floating IPs, default and extra routes are its
  ``virtual_ipaddress_excluded`` and ``virtual_routes``: the master holds them,
  standbys none. A changed configuration is a SIGHUP.

:meth:`HARouters.watch` (the driver's kernel watch thread) every ``POLL_S`` reads each
router's state file (written by keepalived's notify script) and reports changed
states to the controller (``POST /kumo/v1/routers/ha_states``: ``openstack network
agent list --router R --long`` shows them); a keepalived found dead is started again
(its leftover addresses are dropped first, so a crashed master does not keep them).
A router turning master here has its namespace's conntrack table emptied first (see
:meth:`HARouters._flush_conntrack`).
:meth:`HARouters.remove` stops keepalived and removes its files.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import threading
import time

from kumo.agent.dataplane import keepalived, links, names, netns
from kumo.agent.dataplane.netns import Host, Netns

LOG = logging.getLogger(__name__)
POLL_S = 0.25
RMTREE_TRIES = 20


def is_ha(router: dict) -> bool:
    return bool(router.get("ha")) and bool(router.get("ha_info"))


class HARouters:
    """HA routers of one L3 driver: ``where`` the host, ``state_dir`` holds
    ``ha_confs/``, ``client`` reports states (optional)."""

    def __init__(self, host: str, where: Host, state_dir: str, client=None):
        self.host = host
        self.where = where
        self.dir = os.path.join(state_dir, "ha_confs")
        self.client = client
        self._guard = threading.Lock()
        self._routers: dict[str, Netns] = {}  # router id -> namespace realized
        self._reported: dict[str, str] = {}
        self._seen: dict[str, str] = {}  # the state last read, to see transitions

    def files(self, router_id: str) -> keepalived.Files:
        return keepalived.Files(os.path.join(self.dir, router_id))

    # -- realize ---------------------------------------------------------------------
    def sync(self, ns: Netns, router: dict, legs: dict[str, tuple[dict, list[str]]],
             leg_fn) -> None:
        """Realize HA router ``router`` in ``ns``: its ``ha-`` leg (made by
        ``leg_fn(ns, leg, port, net, cidrs)``, the driver's own) and keepalived.
        ``legs``: ``{qr-/qg- leg: (port, cidrs)}`` (floating IPs included)."""
        info = router["ha_info"]
        mine = info["ports"].get(self.host)
        if mine is None:
            raise RuntimeError(f"HA router {router['id']}: no HA port bound to {self.host} "
                               "yet")
        ha_leg = names.ha(mine["port_id"])
        for lk in links.list_links(ns):
            if lk.name.startswith(names.HA) and lk.name != ha_leg:
                links.delete_link(ns, lk.name)
        leg_fn(ns, ha_leg, mine, None, [f"{mine['ip_address']}/{mine['prefixlen']}"],
               keep=[keepalived.primary_vip(info["vr_id"])])
        vips = [(str(ipaddress.ip_interface(c)), leg)
                for leg, (_, cidrs) in sorted(legs.items()) for c in cidrs]
        files = self.files(router["id"])
        changed = keepalived.write(files, keepalived.render(keepalived.Instance(
            vr_id=info["vr_id"], interface=ha_leg, vips=vips,
            routes=routes_of(router, legs)), files))
        with self._guard:
            self._routers[router["id"]] = ns
        if not keepalived.running(files):
            self._start(ns, files, legs)
        elif changed:
            keepalived.reload(files)

    def _start(self, ns: Netns, files: keepalived.Files, legs) -> None:
        keepalived.stop(files)  # a half-dead one (parent or child gone)
        # addresses and routes are keepalived's: a crashed master's leftovers go
        for leg in legs:
            if links.get_link(ns, leg) is None:
                continue
            for cidr in links.list_addresses(ns, leg):
                if not ipaddress.ip_interface(cidr).ip.is_link_local:
                    links.delete_address(ns, leg, cidr)
        for family in (4, 6):
            for r in links.list_routes(ns, family):
                if r["gateway"]:
                    links.delete_route(ns, r["dst"], gateway=r["gateway"])
        keepalived.start(ns, files)

    def known(self, router_id: str) -> bool:
        """Whether ``router_id`` has keepalived files here (or was realized)."""
        with self._guard:
            if router_id in self._routers:
                return True
        return os.path.isdir(self.files(router_id).dir)

    def remove(self, router_id: str) -> None:
        """Stop the router's keepalived and remove its files (nothing if absent)."""
        files = self.files(router_id)
        keepalived.stop(files)
        # keepalived's notify script (its STOP state) may still be writing into the
        # directory after keepalived exited: remove it again until it stays gone
        for _ in range(RMTREE_TRIES):
            shutil.rmtree(files.dir, ignore_errors=True)
            if not os.path.exists(files.dir):
                break
            time.sleep(0.05)
        with self._guard:
            self._routers.pop(router_id, None)
            self._reported.pop(router_id, None)
            self._seen.pop(router_id, None)

    def cleanup(self, wanted: set[str]) -> None:
        """Remove keepalived of every router not in ``wanted`` (ids)."""
        try:
            present = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for router_id in present:
            if router_id not in wanted:
                self.remove(router_id)

    # -- watch -----------------------------------------------------------------------
    def poll(self, requeue=None) -> dict[str, str]:
        """One pass: restart dead keepalived processes (``requeue(("routers", id))``
        lets the driver redo it), report changed states; returns the states read."""
        with self._guard:
            routers = dict(self._routers)
        states: dict[str, str] = {}
        for router_id in routers:
            files = self.files(router_id)
            if not keepalived.running(files):
                if requeue is not None and os.path.exists(files.conf):
                    requeue(("routers", router_id))
                continue
            state = keepalived.state(files)
            if state is not None:
                states[router_id] = state
        for router_id, state in states.items():
            before = self._seen.get(router_id)
            self._seen[router_id] = state
            if state == "active" and before is not None and before != "active":
                # before the report (traffic moves here only once the controller has
                # re-bound the ports): forget connections tracked while standby
                self._flush_conntrack(routers[router_id])
        with self._guard:
            changed = {r: s for r, s in states.items() if self._reported.get(r) != s}
        if changed and self.client is not None:
            try:
                self.client.report_ha_states(self.host, changed)
            except Exception as e:  # noqa: BLE001 - retried on the next pass
                LOG.warning("%s: reporting HA states failed: %s", self.host, e)
                return states
        with self._guard:
            for r, s in changed.items():
                if r in self._routers:
                    self._reported[r] = s
        return states

    @staticmethod
    def _flush_conntrack(ns: Netns) -> None:
        """Empty the namespace's conntrack table. Entries left from an earlier
        mastership carry stale TCP windows: the sessions' packets would be INVALID,
        miss the NAT and be reset by the router. With the table empty the new master
        picks established sessions up mid-stream (``nf_conntrack_tcp_loose``), which
        keeps floating IP sessions (stateless DNAT/SNAT rules) alive; default-SNAT
        sessions are lost (no conntrackd yet)."""
        def flush():
            from pyroute2 import Conntrack
            ct = Conntrack()
            try:
                ct.flush()
            finally:
                ct.close()
        try:
            netns.call(ns, flush)
        except Exception as e:  # noqa: BLE001 - a failover never fails on this
            LOG.warning("flushing conntrack in %s failed: %s", ns, e)

    def watch(self, requeue, stop: threading.Event) -> None:
        while not stop.wait(POLL_S):
            self.poll(requeue)


def routes_of(router: dict, legs: dict) -> list[tuple[str, str, str | None]]:
    """``[(destination, nexthop, device)]``: the default route via the external
    subnet's gateway on the ``qg-`` leg, then the extra routes."""
    out = []
    gw = router.get("gateway")
    if gw:
        qg = names.router_gateway(gw["port_id"])
        seen = set()
        for fixed in gw.get("fixed_ips", []):
            hop = fixed.get("gateway_ip")
            if not hop:
                continue
            dst = "0.0.0.0/0" if ipaddress.ip_address(hop).version == 4 else "::/0"
            if dst not in seen:
                seen.add(dst)
                out.append((dst, hop, qg if qg in legs else None))
    for route in router.get("routes") or []:
        out.append((str(ipaddress.ip_network(route["destination"])), route["nexthop"],
                    None))
    return out
