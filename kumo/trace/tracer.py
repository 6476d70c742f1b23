"""``kumo trace <server|port|floating-ip>``: the Sydney 2017 troubleshooting workflow
in one command (README "Troubleshooting").

The target is resolved through the API as admin (a server -> its ports; a port -> its
network, subnets, host; a floating IP -> its port and router). Then, per port:

- **port**: bound (``binding:host_id`` set, ``binding:vif_type`` not
  ``binding_failed``/``unbound``) and ``ACTIVE``;
- **agents**: the host's Linux bridge, DHCP (when a subnet has DHCP), metadata agents
  and the router host's L3 agent alive and enabled; the server host's compute service
  up and enabled;
- **console**: the guest's DHCP client bound one of the port's addresses; its last
  boot/user-data lines;
- **secgroups**: a rule of the port's groups admits the probe (:mod:`kumo.trace.rules`);
- **dataplane** (only where the host's kernel is reachable from here, see
  :func:`local_hosts`; a WARN naming the command to run on the host otherwise): the tap
  on ``brq<net[:11]>``, the VXLAN device's flood entries towards every other host with
  ports on the network, the qdhcp- namespace and the dnsmasq host file's static lease,
  the router's qr-/qg- legs and its NAT rules for the floating IP;
- **ping** (ICMP) or a TCP connect (``--protocol tcp --port N``) from the router's
  (else the DHCP) namespace to the fixed IP, bounded (``ping -c 2 -W 1``); the
  destination is always an address on a leg of that Kumo-made namespace's network;
- **tcpdump** where the probe fails: a 3-second capture on the router's tap and the
  instance's tap while probing again, saying where the packets stop;
- **logs**: ``trace|error`` lines naming the resources' ids in ``--log-file`` files.
"""
from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kumo.agent.dataplane import links, names, netns, nft
from kumo.trace import report, rules
from kumo.trace.report import FAIL, PASS, WARN, Check

#: Bytes read from the end of each log file.
LOG_TAIL_BYTES = 16 * 1024 * 1024
CAPTURE_S = 3
L2_AGENT = "Linux bridge agent"
DHCP_AGENT = "DHCP agent"
L3_AGENT = "L3 agent"
METADATA_AGENT = "Metadata agent"
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface")


class TraceError(RuntimeError):
    """The target cannot be found (the message says why)."""


@dataclass(frozen=True)
class Where:
    """A host whose kernel this process reaches: its namespaces (``host``) and the
    directory of its DHCP files (``dhcp_dir``: ``<dir>/<network_id>/host``)."""

    host: netns.Host
    dhcp_dir: str
    label: str = "this machine"


def local_hosts(settings) -> dict[str, Where]:
    """The hosts whose kernel is reachable from here: the machine's own agent host
    (``agent_host``, else the hostname, as ``kumo up`` names it) and the simulated hosts
    of ``kumo up --hosts N`` (:mod:`kumo.hosts`: their anchor's namespaces, reached
    through ``/proc/<anchor>/``)."""
    state = Path(settings.state_dir)
    out = {(settings.agent_host or socket.gethostname()):
           Where(netns.Host(), str(state / "agent" / "dhcp"))}
    try:
        from kumo import hosts as simhosts  # kumo up --hosts N
    except ImportError:
        return out
    try:
        for h in simhosts.load(settings):
            if not h.anchor_alive():
                continue
            proc = f"/proc/{h.anchor}"
            out[h.name] = Where(netns.Host(netns=f"{proc}/ns/net",
                                           run_dir=f"{proc}/root/run/netns"),
                                f"{proc}/root{Path(h.dir) / 'agent' / 'dhcp'}",
                                f"simulated host {h.name}")
    except Exception:  # noqa: BLE001 - a broken record only loses the kernel checks
        pass
    return out


class Tracer:
    """One trace. ``conn``: an admin openstacksdk connection; ``where``: the hosts
    reachable here (:func:`local_hosts`); ``protocol``/``port``/``source``: the probe
    (``source`` None: the address the probe is sent from); ``log_files``: files to
    search for ``trace|error``."""

    def __init__(self, conn, where: dict[str, Where], *, protocol: str = "icmp",
                 port: int | None = None, source: str | None = None,
                 log_files: list[str] = ()):
        self.conn = conn
        self.where = where
        self.protocol = protocol
        self.port = port
        self.source = source
        self.log_files = list(log_files)
        self.checks: list[Check] = []
        self.ids: set[str] = set()

    # -- API helpers -------------------------------------------------------------------
    def _get(self, path: str, **params) -> dict:
        resp = self.conn.network.get(path, params=params or None)
        if resp.status_code == 404:
            return {}
        resp.raise_for_status()
        return resp.json()

    def _ports(self, **params) -> list[dict]:
        return self._get("/ports", **params).get("ports", [])

    def add(self, step: str, status: str, what: str, command: str = "",
            hint: str = "") -> Check:
        check = Check(step, status, what, command, hint)
        self.checks.append(check)
        return check

    def check_admin(self) -> None:
        """Raise :class:`TraceError` unless the connection may list agents: without
        admin, bindings and hosts are hidden and every check would mislead."""
        resp = self.conn.network.get("/agents", params={"host": "kumo-trace-check"})
        if resp.status_code in (401, 403):
            raise TraceError("the trace needs an admin cloud (agents, bindings and hosts "
                             "are the admin's to see): --os-cloud kumo-admin")
        resp.raise_for_status()

    # -- resolving ---------------------------------------------------------------------
    def resolve(self, target: str) -> dict:
        """``{"kind", "id", "server", "ports": [port...], "floatingips": [...]}``;
        raises :class:`TraceError` when nothing is called ``target``."""
        server = None
        try:
            server = self.conn.compute.find_server(target, ignore_missing=True,
                                                   all_projects=True)
        except Exception as e:  # noqa: BLE001 - e.g. several servers of that name
            if "More than one" in str(e):
                raise TraceError(f"several servers are named {target!r}: use its id")
        if server is not None:
            ports = self._ports(device_id=server.id)
            self.add("resolve", PASS if ports else FAIL,
                     f"server {server.name} ({server.id}) {server.status} on "
                     f"{server.compute_host or '-'}: {len(ports)} port(s)",
                     f"openstack server show {server.id}",
                     "" if ports else "the server has no port: was it created with "
                     "--network?")
            return {"kind": "server", "id": server.id, "server": server, "ports": ports}
        port = self._get(f"/ports/{target}").get("port")
        if port is None:
            found = self._ports(name=target)
            if len(found) > 1:
                raise TraceError(f"several ports are named {target!r}: use its id")
            port = found[0] if found else None
        if port is not None:
            self.add("resolve", PASS, f"port {port['id']} on network {port['network_id']}"
                     f" ({port['device_owner'] or 'no owner'})",
                     f"openstack port show {port['id']}")
            return {"kind": "port", "id": port["id"], "server": self._server_of(port),
                    "ports": [port]}
        fip = self._get(f"/floatingips/{target}").get("floatingip")
        if fip is None:
            found = self._get("/floatingips", floating_ip_address=target).get(
                "floatingips", [])
            fip = found[0] if found else None
        if fip is None:
            raise TraceError(f"no server, port or floating IP is called {target!r}")
        if not fip.get("port_id"):
            self.add("resolve", FAIL, f"floating IP {fip['floating_ip_address']} is not "
                     "associated with a port", f"openstack floating ip show {fip['id']}",
                     "openstack server add floating ip <server> "
                     f"{fip['floating_ip_address']}")
            return {"kind": "floatingip", "id": fip["id"], "server": None, "ports": []}
        port = self._get(f"/ports/{fip['port_id']}").get("port")
        self.add("resolve", PASS, f"floating IP {fip['floating_ip_address']} -> "
                 f"{fip.get('fixed_ip_address')} (port {fip['port_id']}, router "
                 f"{fip.get('router_id')})", f"openstack floating ip show {fip['id']}")
        return {"kind": "floatingip", "id": fip["id"],
                "server": self._server_of(port) if port else None,
                "ports": [port] if port else []}

    def _server_of(self, port: dict):
        if not (port.get("device_owner") or "").startswith("compute:") \
                or not port.get("device_id"):
            return None
        try:
            return self.conn.compute.get_server(port["device_id"])
        except Exception:  # noqa: BLE001 - a port may name a server long gone
            return None

    # -- the trace ---------------------------------------------------------------------
    def run(self, target: str) -> dict:
        """Run every check for ``target``; returns what it was resolved to (for the
        JSON output). The findings are in :attr:`checks`."""
        self.check_admin()
        found = self.resolve(target)
        server = found["server"]
        if server is not None:
            self.ids.add(server.id)
            self.check_compute(server)
        for port in found["ports"]:
            self.trace_port(port, server)
        if server is not None:
            self.check_console(server, found["ports"])
        self.check_logs()
        order = list(report.STEPS)
        self.checks.sort(key=lambda c: order.index(c.step))  # the workflow's order
        return {"kind": found["kind"], "id": found["id"],
                "server": server.id if server is not None else None,
                "ports": [p["id"] for p in found["ports"]]}

    def trace_port(self, port: dict, server) -> None:
        self.ids.update({port["id"], port["network_id"]})
        host = self.check_binding(port)
        network = self._get(f"/networks/{port['network_id']}").get("network", {})
        subnets = [self._get(f"/subnets/{f['subnet_id']}").get("subnet", {})
                   for f in port.get("fixed_ips", [])]
        subnets = [s for s in subnets if s]
        routers = self.routers_of(port, subnets)
        fips = self._get("/floatingips", port_id=port["id"]).get("floatingips", [])
        self.ids.update(f["id"] for f in fips)
        self.ids.update(r["id"] for r in routers)
        dhcp = any(s.get("enable_dhcp") for s in subnets)
        if host:
            wanted = [L2_AGENT, METADATA_AGENT] + ([DHCP_AGENT] if dhcp else [])
            self.check_agents(host, wanted)
        for router in routers:
            if router.get("_host"):
                self.check_agents(router["_host"], [L3_AGENT], f"router {router['id']}")
            else:
                self.add("agents", FAIL, f"router {router['id']} is on no host (no L3 "
                         "agent alive when it was scheduled?)",
                         f"openstack network agent list --router {router['id']}")
        probe_ns, probe_src = self.probe_origin(port, routers, subnets, network)
        self.check_secgroups(port, probe_src)
        where = self.where.get(host) if host else None
        if where is not None and self._fake(host):
            self.add("dataplane", WARN, f"the agent on {host} runs the fake driver: "
                     "nothing in the kernel to check", f"openstack network agent list "
                     f"--host {host} --long")
            where = None
        elif host and where is None:
            self.add("dataplane", WARN, f"host {host} is not this machine: its kernel is "
                     "not checked here", f"on {host}: ip link show master "
                     f"{names.bridge(port['network_id'])}",
                     f"run `kumo trace {port['id']}` on {host}")
        elif where is not None:
            self.check_tap(where, port)
            self.check_vxlan(where, host, network)
            if dhcp:
                self.check_dhcp(where, port, network)
        for router in routers:
            rwhere = self.where.get(router.get("_host") or "")
            if rwhere is not None and self._fake(router["_host"]):
                continue
            if router.get("_host") and rwhere is None:
                self.add("dataplane", WARN, f"router {router['id']} is on host "
                         f"{router['_host']}, not this machine", f"on {router['_host']}: "
                         f"ip netns exec {names.router_ns(router['id'])} ip addr")
            elif rwhere is not None:
                self.check_router(rwhere, router, subnets, fips)
        self.check_probe(port, probe_ns, probe_src, where)

    # -- API checks --------------------------------------------------------------------
    def check_binding(self, port: dict) -> str | None:
        host = port.get("binding:host_id") or ""
        vif = port.get("binding:vif_type") or ""
        cmd = f"openstack port show {port['id']} -c status -c binding_host_id " \
              "-c binding_vif_type"
        if not host or vif in ("unbound", "binding_failed"):
            self.add("port", FAIL, f"port {port['id']} is not bound (host "
                     f"{host or '-'}, vif_type {vif or '-'}, {port.get('status')})", cmd,
                     "no agent on the host could bind it: check the host's Linux bridge "
                     "agent (openstack network agent list --host <host>)")
            return host or None
        status = port.get("status")
        self.add("port", PASS if status == "ACTIVE" else FAIL,
                 f"port {port['id']} bound on {host} (vif_type {vif}), {status}", cmd,
                 "" if status == "ACTIVE" else f"the agent on {host} has not plugged it:"
                 " see its log and `openstack network agent show` (errors)")
        return host

    def check_agents(self, host: str, wanted: list[str], why: str = "") -> None:
        cmd = f"openstack network agent list --host {host}"
        agents = self._get("/agents", host=host).get("agents", [])
        for kind in wanted:
            mine = [a for a in agents if a.get("agent_type") == kind]
            label = f"{kind} on {host}" + (f" ({why})" if why else "")
            if not mine:
                self.add("agents", FAIL, f"{label}: none registered", cmd,
                         f"start the agent on {host} (kumo agent --host {host} ...)")
                continue
            a = mine[0]
            if not a.get("alive"):
                self.add("agents", FAIL, f"{label}: not alive (last heartbeat "
                         f"{a.get('heartbeat_timestamp')})", cmd,
                         f"the agent on {host} stopped sending heartbeats: restart it, "
                         "read its log")
            elif not a.get("admin_state_up"):
                self.add("agents", FAIL, f"{label}: alive but disabled", cmd,
                         f"openstack network agent set --enable {a['id']}")
            else:
                errors = (a.get("configurations") or {}).get("errors") or []
                mine_err = [e for e in errors if any(i in str(e) for i in self.ids)]
                self.add("agents", FAIL if mine_err else PASS,
                         f"{label}: alive" + (f", reports {mine_err[0]}"[:200]
                                              if mine_err else ""),
                         cmd if not mine_err else f"openstack network agent show {a['id']}")

    def _fake(self, host: str) -> bool:
        """Whether ``host``'s L2 agent is the fake driver (``kumo up --dataplane fake``)."""
        agents = self._get("/agents", host=host, agent_type=L2_AGENT).get("agents", [])
        return any((a.get("configurations") or {}).get("driver") == "fake" for a in agents)

    def check_compute(self, server) -> None:
        host = server.compute_host
        if not host:
            self.add("agents", FAIL if server.status != "BUILD" else WARN,
                     f"server {server.id} is on no compute host ({server.status})",
                     f"openstack server show {server.id} -c fault")
            return
        cmd = f"openstack compute service list --host {host}"
        services = [s for s in self.conn.compute.services(host=host)
                    if s.binary == "nova-compute"]
        if not services:
            self.add("agents", FAIL, f"nova-compute on {host}: none registered", cmd)
        elif services[0].state != "up":
            self.add("agents", FAIL, f"nova-compute on {host}: down", cmd,
                     f"the compute agent on {host} stopped reporting: restart it")
        elif services[0].status != "enabled":
            self.add("agents", WARN, f"nova-compute on {host}: up but disabled (no new "
                     "servers are scheduled there)", cmd)
        else:
            self.add("agents", PASS, f"nova-compute on {host}: up", cmd)

    def routers_of(self, port: dict, subnets: list[dict]) -> list[dict]:
        """The routers with a leg on the port's subnets (each with ``_host``: its
        legs' binding host, and ``_legs``: its interface ports there)."""
        subnet_ids = {s["id"] for s in subnets}
        out: dict[str, dict] = {}
        for leg in self._ports(network_id=port["network_id"]):
            if leg.get("device_owner") not in ROUTER_OWNERS:
                continue
            if not subnet_ids & {f["subnet_id"] for f in leg.get("fixed_ips", [])}:
                continue
            router = out.get(leg["device_id"])
            if router is None:
                router = self._get(f"/routers/{leg['device_id']}").get("router")
                if router is None:
                    continue
                router["_legs"] = []
                router["_host"] = None
                out[router["id"]] = router
            router["_legs"].append(leg)
            router["_host"] = router["_host"] or leg.get("binding:host_id") or None
        return list(out.values())

    def probe_origin(self, port, routers, subnets, network) -> tuple[tuple, str | None]:
        """Where the probe is sent from: ``((host name, namespace name, the leg's tap
        on the host), source address)`` of the first router leg on the port's subnet,
        else of the network's DHCP port on the port's host; ``((None, None, None),
        None)`` when there is neither."""
        v4 = {s["id"] for s in subnets if s.get("ip_version") == 4}
        for router in routers:
            for leg in router["_legs"]:
                for f in leg.get("fixed_ips", []):
                    if f["subnet_id"] in v4:
                        return ((router["_host"], names.router_ns(router["id"]),
                                 names.tap(leg["id"])), f["ip_address"])
        host = port.get("binding:host_id")
        for dport in self._ports(network_id=port["network_id"],
                                 device_owner="network:dhcp"):
            if dport.get("binding:host_id") != host:
                continue
            for f in dport.get("fixed_ips", []):
                if f["subnet_id"] in v4:
                    return ((host, names.dhcp_ns(network.get("id", port["network_id"])),
                             names.tap(dport["id"])), f["ip_address"])
        return (None, None, None), None

    def check_secgroups(self, port: dict, probe_src: str | None) -> None:
        if port.get("port_security_enabled") is False:
            self.add("secgroups", PASS, f"port {port['id']}: port security is off (no "
                     "filtering)", f"openstack port show {port['id']} -c "
                     "port_security_enabled")
            return
        groups = port.get("security_groups") or []
        ipv6 = False
        source = self.source or probe_src or rules.EXTERNAL
        if source != rules.EXTERNAL:
            try:
                ipv6 = ipaddress.ip_address(source).version == 6
            except ValueError:
                raise TraceError(f"--from {source!r}: an IP address or 'external'")
        source_groups = set()
        if source != rules.EXTERNAL:
            for holder in self._ports(fixed_ips=f"ip_address={source}"):
                source_groups.update(holder.get("security_groups") or [])
        probe = rules.Probe(self.protocol, self.port, source, frozenset(source_groups),
                            ipv6)
        what = f"{self.protocol}" + (f" port {self.port}" if self.port else "") + \
            f" from {source}" + ("" if self.source else " (the probe's source)"
                                 if probe_src else " (no probe here: from anywhere)")
        if not groups:
            self.add("secgroups", FAIL, f"port {port['id']} has no security group: all "
                     f"ingress is dropped ({what})", f"openstack port show {port['id']}",
                     f"openstack port set --security-group default {port['id']}")
            return
        all_rules = []
        for gid in groups:
            all_rules += self._get("/security-group-rules", security_group_id=gid).get(
                "security_group_rules", [])
        cmd = "openstack security group rule list --ingress " + " ".join(groups)
        letting = rules.admitting(all_rules, probe)
        if letting:
            self.add("secgroups", PASS, f"{what} is let in by: "
                     f"{rules.describe(letting[0])}", cmd)
        else:
            fix = rules.hint(groups[0], probe, self.source)
            short = ", ".join(g[:8] for g in groups)
            self.add("secgroups", FAIL, f"no ingress rule of {short}"
                     f" lets {what} in", cmd,
                     f"ingress is closed by default: add `{fix}`")

    def check_console(self, server, ports: list[dict]) -> None:
        cmd = f"openstack console log show {server.id} --lines 40"
        try:
            out = self.conn.compute.get_server_console_output(server, length=200)
            log = out.get("output") or ""
        except Exception as e:  # noqa: BLE001 - no console yet is a finding, not a crash
            self.add("console", WARN, f"no console log ({type(e).__name__})", cmd)
            return
        ips = [f["ip_address"] for p in ports for f in p.get("fixed_ips", [])]
        found = report.console_findings(log, ips)
        if found["lease_ok"]:
            self.add("console", PASS, f"the guest bound {found['lease']} by DHCP", cmd)
        elif found["lease"]:
            self.add("console", FAIL, f"the guest bound {found['lease']}, not one of "
                     f"{', '.join(ips)}", cmd)
        elif found["dhcp_lines"]:
            self.add("console", FAIL, "no DHCP lease on the console; last: "
                     f"{found['dhcp_lines'][-1][:160]}", cmd,
                     "check the DHCP agent, the qdhcp- namespace and the security "
                     "groups (DHCP replies are let in by the firewall)")
        else:
            self.add("console", WARN, "the console shows no DHCP client (yet?)", cmd)
        for line in found["boot_lines"][-2:]:
            self.add("console", PASS, f"boot: {line[:200]}", cmd)

    def check_logs(self) -> None:
        ids = sorted(self.ids)
        pattern = "|".join(ids)
        if not self.log_files:
            self.add("logs", WARN, "no log file given: ERROR/TRACE lines not searched",
                     "", "start kumo up --log-file PATH and pass --log-file PATH here")
            return
        for path in self.log_files:
            cmd = f"grep -E 'ERROR|CRITICAL|TRACE|Traceback' {shlex.quote(path)} | " \
                f"grep -E '{pattern}'"
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError as e:
                self.add("logs", WARN, f"cannot read {path}: {e.strerror}", "")
                continue
            count, last = report.log_matches(lines, ids)
            if count:
                self.add("logs", WARN, f"{path}: {count} ERROR/TRACE line(s) about these "
                         f"resources; last: {last[-1][:300]}", cmd)
            else:
                self.add("logs", PASS, f"{path}: no ERROR/TRACE line about these "
                         "resources", cmd)

    # -- kernel checks -----------------------------------------------------------------
    def check_tap(self, where: Where, port: dict) -> None:
        tap, bridge = names.tap(port["id"]), names.bridge(port["network_id"])
        cmd = f"ip link show master {bridge}"
        link = links.get_link(where.host.root, tap)
        if link is None:
            self.add("dataplane", FAIL, f"{tap} does not exist on {where.label}",
                     f"ip link show {tap}", "the instance's (or router/DHCP leg's) "
                     "device is gone: see the compute agent's log")
            return
        master = None
        if link.master:
            master = next((x.name for x in links.list_links(where.host.root)
                           if x.index == link.master), None)
        if master != bridge:
            self.add("dataplane", FAIL, f"{tap} is on {master or 'no bridge'}, not "
                     f"{bridge}", cmd, "the L2 agent plugs it on sight: is it alive?")
        elif not link.up:
            self.add("dataplane", FAIL, f"{tap} is on {bridge} but down", cmd)
        else:
            self.add("dataplane", PASS, f"{tap} is up on {bridge}", cmd)

    def check_vxlan(self, where: Where, host: str, network: dict) -> None:
        if network.get("provider:network_type") != "vxlan":
            return
        dev = names.vxlan(network["provider:segmentation_id"])
        cmd = f"bridge fdb show dev {dev}"
        try:
            entries = links.list_fdb(where.host.root, dev)
        except Exception:  # noqa: BLE001 - a missing device is the finding
            self.add("dataplane", FAIL, f"{dev} does not exist on {where.label}",
                     f"ip -d link show {dev}", "the L2 agent makes it with the bridge")
            return
        others = {p.get("binding:host_id") for p in self._ports(network_id=network["id"])}
        others -= {host, None, ""}
        remotes = {}
        for other in sorted(others):
            l2 = [a for a in self._get("/agents", host=other).get("agents", [])
                  if a.get("agent_type") == L2_AGENT]
            ip = (l2[0].get("configurations") or {}).get("tunneling_ip") if l2 else None
            if ip:
                remotes[other] = ip
        missing = report.fdb_missing(entries, remotes)
        if missing:
            self.add("dataplane", FAIL, f"{dev} has no flood entry towards "
                     f"{', '.join(f'{h} ({remotes[h]})' for h in missing)}", cmd,
                     "L2 population: the other hosts' ports are not known here; is the "
                     "L2 agent alive and watching?")
        else:
            self.add("dataplane", PASS, f"{dev} floods to the {len(remotes)} other "
                     "host(s) with ports on the network", cmd)

    def check_dhcp(self, where: Where, port: dict, network: dict) -> None:
        ns_name = names.dhcp_ns(port["network_id"])
        if not where.host.ns(ns_name).exists():
            self.add("dataplane", FAIL, f"{ns_name} does not exist on {where.label}",
                     "ip netns list", "the DHCP agent makes it: see its log")
            return
        path = Path(where.dhcp_dir) / port["network_id"] / "host"
        try:
            content = path.read_text()
        except OSError:
            self.add("dataplane", FAIL, f"no dnsmasq host file {path}", f"ls {path.parent}")
            return
        for f in port.get("fixed_ips", []):
            ok = report.hosts_file_has(content, port["mac_address"], f["ip_address"])
            self.add("dataplane", PASS if ok else FAIL,
                     f"dnsmasq in {ns_name} " + ("leases" if ok else "has no lease for")
                     + f" {port['mac_address']} -> {f['ip_address']}", f"cat {path}")

    def check_router(self, where: Where, router: dict, subnets: list[dict],
                     fips: list[dict]) -> None:
        ns_name = names.router_ns(router["id"])
        ns = where.host.ns(ns_name)
        cmd = f"ip netns exec {ns_name} ip -br addr"
        if not ns.exists():
            self.add("dataplane", FAIL, f"{ns_name} does not exist on {where.label}",
                     "ip netns list", "the L3 agent makes it: is it alive?")
            return
        subnet_ids = {s["id"] for s in subnets}
        for leg in router["_legs"]:
            dev = names.router_interface(leg["id"])
            want = [f["ip_address"] for f in leg["fixed_ips"]
                    if f["subnet_id"] in subnet_ids]
            have = [a.split("/")[0] for a in self._addresses(ns, dev)]
            ok = have is not None and all(ip in have for ip in want)
            self.add("dataplane", PASS if ok else FAIL,
                     f"{ns_name}: {dev} " + (f"holds {', '.join(want)}" if ok
                                            else f"lacks {', '.join(want)}"), cmd)
        gw = router.get("external_gateway_info") or {}
        if gw.get("network_id"):
            gw_ips = [f["ip_address"] for f in gw.get("external_fixed_ips", [])]
            gw_port = self._ports(device_id=router["id"],
                                  device_owner="network:router_gateway")
            if gw_port:
                dev = names.router_gateway(gw_port[0]["id"])
                have = [a.split("/")[0] for a in self._addresses(ns, dev)]
                ok = all(ip in have for ip in gw_ips)
                self.add("dataplane", PASS if ok else FAIL, f"{ns_name}: {dev} "
                         + (f"holds {', '.join(gw_ips)}" if ok else
                            f"lacks {', '.join(gw_ips)}"), cmd)
                self.check_default_route(ns, ns_name, dev, gw)
        elif fips:
            self.add("dataplane", FAIL, f"router {router['id']} has no gateway: its "
                     "floating IPs cannot work", f"openstack router show {router['id']}",
                     f"openstack router set --external-gateway public {router['id']}")
        from kumo.agent import l3  # the table's name and family
        table = nft.list_table(ns, l3.FAMILY, l3.TABLE)
        ncmd = f"ip netns exec {ns_name} nft list table {l3.FAMILY} {l3.TABLE}"
        for fip in fips:
            if fip.get("router_id") != router["id"]:
                continue
            got = report.nat_findings(table, fip["floating_ip_address"],
                                      fip["fixed_ip_address"])
            ok = got["dnat"] and got["snat"]
            self.add("dataplane", PASS if ok else FAIL,
                     f"{ns_name}: " + ("DNAT and SNAT" if ok else "missing " + " and ".join(
                         k.upper() for k in ("dnat", "snat") if not got[k]))
                     + f" for {fip['floating_ip_address']} <-> {fip['fixed_ip_address']}",
                     ncmd)

    def check_default_route(self, ns, ns_name: str, dev: str, gw: dict) -> None:
        """The router's default route goes via its external subnet's gateway on
        ``dev`` (its qg- leg)."""
        nexthops = []
        for f in gw.get("external_fixed_ips", []):
            sub = self._get(f"/subnets/{f['subnet_id']}").get("subnet") or {}
            if sub.get("gateway_ip") and sub.get("ip_version") == 4:
                nexthops.append(sub["gateway_ip"])
        if not nexthops:
            return
        try:
            routes = links.list_routes(ns)
        except Exception:  # noqa: BLE001 - a vanished namespace was reported above
            return
        default = [r for r in routes if r["dst"] == "0.0.0.0/0"]
        ok = any(r["gateway"] in nexthops and r["dev"] == dev for r in default)
        got = ", ".join(f"via {r['gateway']} dev {r['dev']}" for r in default) or "none"
        self.add("dataplane", PASS if ok else FAIL,
                 f"{ns_name}: default route via {nexthops[0]} dev {dev}"
                 + ("" if ok else f" missing (have: {got})"),
                 f"ip netns exec {ns_name} ip route show default")

    @staticmethod
    def _addresses(ns, dev: str) -> list[str]:
        try:
            return links.list_addresses(ns, dev)
        except Exception:  # noqa: BLE001 - a missing leg has no addresses
            return []

    # -- probing -----------------------------------------------------------------------
    def check_probe(self, port: dict, origin: tuple, src: str | None,
                    where: Where | None) -> None:
        host, ns_name, _dev = origin
        targets = [f["ip_address"] for f in port.get("fixed_ips", [])
                   if ipaddress.ip_address(f["ip_address"]).version == 4]
        if not targets or ns_name is None:
            self.add("ping", WARN, "nothing to probe from: no router leg or DHCP port "
                     "on the port's IPv4 subnet", "")
            return
        pwhere = self.where.get(host or "")
        ip = targets[0]
        if pwhere is not None and self._fake(host):
            self.add("ping", WARN, f"{ns_name} is not made by the fake driver on {host}: "
                     "nothing to probe from", "")
            return
        if pwhere is None:
            self.add("ping", WARN, f"{ns_name} is on {host}, not this machine",
                     f"on {host}: ip netns exec {ns_name} ping -c 2 -W 1 {ip}")
            return
        ns = pwhere.host.ns(ns_name)
        if not ns.exists():
            self.add("ping", FAIL, f"{ns_name} does not exist: nothing to probe from",
                     "ip netns list")
            return
        if self.protocol == "udp":
            self.add("ping", WARN, f"UDP to {ip} is not probed (no answer to expect)", "")
            return
        if self.protocol == "tcp" and self.port is None:
            self.add("ping", WARN, "TCP is probed only with --port N", "")
            return
        ok, cmd = self._probe(ns, ip)
        if ok:
            self.add("ping", PASS, f"{ip} answers {self.protocol.upper()} from {ns_name}"
                     + (f" ({src})" if src else ""), cmd)
            return
        self.add("ping", FAIL, f"{ip} does not answer {self.protocol.upper()} from "
                 f"{ns_name}", cmd, "see the security group and tcpdump lines")
        self.capture(pwhere, ns, ip, port, origin, where)

    def _probe(self, ns, ip: str) -> tuple[bool, str]:
        name = ns.name
        if self.protocol == "icmp":
            argv = ["ping", "-c", "2", "-W", "1", ip]
            proc = netns.run(ns, argv, check=False, timeout=10)
            return proc.returncode == 0, f"ip netns exec {name} {' '.join(argv)}"
        cmd = f"ip netns exec {name} nc -z -w 2 {ip} {self.port}"

        def connect() -> bool:
            try:
                with socket.create_connection((ip, self.port), timeout=2):
                    return True
            except OSError:
                return False
        return netns.call(ns, connect), cmd

    def capture(self, pwhere: Where, ns, ip: str, port: dict, origin: tuple,
                where: Where | None) -> None:
        """Probe again while capturing (``timeout 3 tcpdump -c 10``) on the probe's
        leg (its tap on the host) and the port's tap; say where the packets stop."""
        _host, ns_name, leg_tap = origin
        points = [(f"{ns_name}'s leg", pwhere.host.root, leg_tap)]  # (label, ns, device)
        if where is not None:
            points.append(("the port's tap", where.host.root, names.tap(port["id"])))
        filt = "icmp" if self.protocol == "icmp" else f"tcp port {self.port}"
        filt += f" and host {ip}"
        procs = []
        for label, pns, device in points:
            argv = ["timeout", str(CAPTURE_S), "tcpdump", "-l", "-n", "-c", "10",
                    "-i", device, filt]
            try:
                proc = netns.call(pns, lambda a=argv: subprocess.Popen(
                    a, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
            except OSError as e:
                self.add("tcpdump", WARN, f"cannot run tcpdump: {e}", "")
                return
            procs.append((label, device, argv, proc))
        time.sleep(0.5)  # tcpdump opens its socket
        self._probe(ns, ip)
        results = []
        for label, device, argv, proc in procs:
            try:
                out, _ = proc.communicate(timeout=CAPTURE_S + 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            asks, answers = report.capture_counts(out.splitlines(), ip)
            results.append((label, device, asks, answers, argv))
        for label, device, asks, answers, argv in results:
            self.add("tcpdump", PASS if asks else FAIL,
                     f"{device} ({label}): {asks} to {ip}, {answers} back",
                     " ".join(argv))
        self.add("tcpdump", FAIL, report.where_stopped(
            [(device, asks, answers) for _l, device, asks, answers, _a in results],
            names.bridge(port["network_id"])))


def connect(state_dir: str, cloud: str | None):
    """An openstacksdk connection as ``cloud`` (default ``kumo-admin``: the trace reads
    bindings, agents and hosts, which only an admin sees) from ``<state>/clouds.yaml``
    (else the usual clouds.yaml search path)."""
    import openstack
    from openstack import config as os_config

    path = Path(state_dir) / "clouds.yaml"
    files = [str(path)] if path.is_file() else None
    cfg = os_config.OpenStackConfig(config_files=files) if files else \
        os_config.OpenStackConfig()
    return openstack.connection.Connection(
        config=cfg.get_one(cloud=cloud or "kumo-admin"))
