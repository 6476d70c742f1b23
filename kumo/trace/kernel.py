"""``kumo trace``'s kernel checks and probe, for hosts reachable from here
(:class:`KernelChecks`, mixed into :class:`kumo.trace.tracer.Tracer`): the tap on its
bridge, VXLAN floods, DHCP, router legs, default route and NAT, then the bounded probe
and, where it fails, the capture saying where packets stop."""
from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from pathlib import Path

from kumo.agent.dataplane import links, names, netns, nft
from kumo.trace import report
from kumo.trace.report import FAIL, PASS, WARN

CAPTURE_S = 3
L2_AGENT = "Linux bridge agent"


class KernelChecks:
    """The checks that read a host's kernel. Expects the :class:`~kumo.trace.tracer.
    Tracer` attributes ``where``, ``protocol``, ``port`` and methods ``add``, ``_get``,
    ``_ports``, ``_fake``."""

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
