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
from dataclasses import dataclass
from pathlib import Path

from kumo.agent.dataplane import names, netns
from kumo.trace import report, rules
from kumo.trace.kernel import L2_AGENT, KernelChecks
from kumo.trace.report import FAIL, PASS, WARN, Check

#: Bytes read from the end of each log file.
LOG_TAIL_BYTES = 16 * 1024 * 1024
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


class Tracer(KernelChecks):
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
        """Raise :class:`TraceError` unless the connection's token has the admin role:
        without it, agents, bindings and hosts are hidden (a non-admin's agent list is
        an empty 200, as Neutron's) and every check would mislead."""
        access = self.conn.session.auth.get_access(self.conn.session)
        if "admin" not in (access.role_names or []):
            raise TraceError("the trace needs an admin cloud (agents, bindings and hosts "
                             "are the admin's to see): --os-cloud kumo-admin")

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
