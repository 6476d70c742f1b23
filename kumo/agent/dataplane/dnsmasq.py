"""dnsmasq for one network's DHCP, as Neutron's ``Dnsmasq`` driver runs it: the
configuration files rendered from API objects, the command line, and the process
(started inside the ``qdhcp-`` namespace, found again by its pid file, reloaded with
SIGHUP, stopped with SIGTERM).

Files of one network live in one directory (:class:`Files`, ``<state>/dhcp/<net_id>/``):

- ``host`` (``--dhcp-hostsfile``): one static lease per port address,
  ``<mac>,<name>.<domain>,10.0.0.5[,set:port-<port_id>]`` (IPv6 addresses in brackets;
  the ``set:`` tag only for ports with ``extra_dhcp_opts``); the name is the port's
  ``dns_name`` (its ``dns_assignment``), else ``host-10-0-0-5``; the domain the
  network's ``dns_domain``, else ``openstacklocal`` (``--domain``, and ``--local`` so
  names in it are answered here only);
- ``addn_hosts`` (``--addn-hosts``): ``<ip>\\t<fqdn> <hostname>`` for DNS answers;
- ``opts`` (``--dhcp-optsfile``): per subnet (tag ``subnet-<id>``) the router (option 3;
  empty when ``gateway_ip`` is null), DNS servers (6), classless static routes (121 and
  Microsoft's 249: on-link routes for the network's IPv4 subnets, ``host_routes``, a
  metadata route when asked, and the default route via the gateway) and the interface
  MTU (26); per port (tag ``port-<id>``) its ``extra_dhcp_opts``;
- ``pid`` (``--pid-file``) and ``dnsmasq.log`` (``--log-facility``).

dnsmasq rereads ``host``, ``addn_hosts`` and ``opts`` on SIGHUP, so lease and option
changes do not restart it; a different command line (ranges, interface) does, and so
does any change while ports with ``extra_dhcp_opts`` are loaded (a dnsmasq 2.90 crash
on SIGHUP, see :func:`_tagged_hosts`).
A process is trusted only when the pid in its pid file is alive and its
``/proc/<pid>/cmdline`` names this directory (never found by process name).
It runs as root (``--user=root``): the state directory is private to the agent.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import signal
import time

from kumo.agent.dataplane import netns
from kumo.agent.dataplane.errors import KumoDataplaneError

DNSMASQ = "/usr/sbin/dnsmasq"
DOMAIN = "openstacklocal"
LEASE_S = 86400
LEASE_MAX = 2 ** 24
METADATA_CIDR = "169.254.169.254/32"
SUBNET_TAG = "subnet-%s"
PORT_TAG = "port-%s"
#: ipv6_address_mode -> dnsmasq range mode (Neutron's mapping; None = stateful).
V6_MODES = {"slaac": "ra-only", "dhcpv6-stateless": "ra-stateless",
            "dhcpv6-stateful": "static", None: "static"}


@dataclasses.dataclass(frozen=True)
class Files:
    """The paths of one network's dnsmasq files under ``dir``."""

    dir: str

    @property
    def pid(self) -> str:
        return os.path.join(self.dir, "pid")

    @property
    def hosts(self) -> str:
        return os.path.join(self.dir, "host")

    @property
    def addn_hosts(self) -> str:
        return os.path.join(self.dir, "addn_hosts")

    @property
    def opts(self) -> str:
        return os.path.join(self.dir, "opts")

    @property
    def log(self) -> str:
        return os.path.join(self.dir, "dnsmasq.log")


# -- rendering ------------------------------------------------------------------------

def hostname(ip: str) -> str:
    """``host-10-0-0-5`` / ``host-fd00--5``: Neutron's name for a port address."""
    return "host-" + ip.replace(".", "-").replace(":", "-")


def _v6_mode(subnet: dict) -> str:
    return V6_MODES.get(subnet.get("ipv6_address_mode"), "static")


def _leases(subnet: dict) -> bool:
    """Whether dnsmasq hands out addresses on ``subnet`` (v4, or stateful v6)."""
    return subnet["ip_version"] == 4 or _v6_mode(subnet) == "static"


def _has_opts(port: dict) -> bool:
    return any(o.get("opt_value") is not None for o in port.get("extra_dhcp_opts") or [])


def domain(network: dict | None) -> str:
    """The DNS domain dnsmasq serves for ``network``: its ``dns_domain`` without the
    final dot, else :data:`DOMAIN` (Neutron's default ``openstacklocal``)."""
    return ((network or {}).get("dns_domain") or "").rstrip(".") or DOMAIN


def names_of(port: dict, ip: str, dom: str = DOMAIN) -> tuple[str, str]:
    """``(hostname, fqdn without the final dot)`` of ``port``'s address ``ip``: its
    ``dns_assignment`` entry when the API rendered one (the port's ``dns_name``), else
    Neutron's ``host-<ip>`` in ``dom``."""
    for entry in port.get("dns_assignment") or []:
        if entry.get("ip_address") == ip:
            return entry["hostname"], entry["fqdn"].rstrip(".")
    name = (port.get("dns_name") or "").rstrip(".") or hostname(ip)
    return name, f"{name}.{dom}"


def render_hosts(ports: list[dict], subnets: list[dict], dom: str = DOMAIN) -> str:
    """The ``--dhcp-hostsfile`` body for ``ports`` (API renderings, any order) on the
    DHCP-enabled ``subnets``: one line per address dnsmasq leases, sorted by port, with
    the port's name (:func:`names_of`) as the client's hostname."""
    by_id = {s["id"]: s for s in subnets}
    lines = []
    for port in sorted(ports, key=lambda p: p["id"]):
        tag = f",set:{PORT_TAG % port['id']}" if _has_opts(port) else ""
        for fip in port.get("fixed_ips", []):
            subnet = by_id.get(fip["subnet_id"])
            if subnet is None or not _leases(subnet):
                continue
            ip = fip["ip_address"]
            addr = f"[{ip}]" if subnet["ip_version"] == 6 else ip
            _, fqdn = names_of(port, ip, dom)
            lines.append(f"{port['mac_address']},{fqdn},{addr}{tag}")
    return "".join(line + "\n" for line in lines)


def render_addn_hosts(ports: list[dict], subnets: list[dict], dom: str = DOMAIN) -> str:
    """The ``--addn-hosts`` body: ``<ip>\\t<fqdn> <hostname>`` per port address on
    ``subnets`` (names as :func:`names_of`), so dnsmasq answers A/AAAA queries for
    every port's name, bare or in the network's domain."""
    ids = {s["id"] for s in subnets}
    lines = []
    for port in sorted(ports, key=lambda p: p["id"]):
        for fip in port.get("fixed_ips", []):
            if fip["subnet_id"] in ids:
                name, fqdn = names_of(port, fip["ip_address"], dom)
                lines.append(f"{fip['ip_address']}\t{fqdn} {name}")
    return "".join(line + "\n" for line in lines)


def _option(version: int, tag: str, name: str, *values: str) -> str:
    if not name.isdigit():
        name = ("option:" if version == 4 else "option6:") + name
    return ",".join((f"tag:{tag}", name) + values)


def render_opts(network: dict, subnets: list[dict], all_subnets: list[dict],
                ports: list[dict], *, metadata_via: dict[str, str] | None = None) -> str:
    """The ``--dhcp-optsfile`` body.

    ``subnets``: the DHCP-enabled subnets; ``all_subnets``: every subnet of the network
    (their IPv4 CIDRs become on-link routes); ``ports``: the network's ports (their
    ``extra_dhcp_opts``); ``metadata_via``: ``{subnet_id: next hop}`` for a
    ``169.254.169.254/32`` route in option 121/249 (the DHCP port's address on an
    isolated subnet, or the router's)."""
    out: list[str] = []
    mtu = network.get("mtu")
    onlink = [s["cidr"] for s in sorted(all_subnets, key=lambda s: s["id"])
              if s["ip_version"] == 4]
    for subnet in sorted(subnets, key=lambda s: s["id"]):
        tag, version = SUBNET_TAG % subnet["id"], subnet["ip_version"]
        dns = list(subnet.get("dns_nameservers") or [])
        if dns:
            if version == 6:
                dns = [f"[{d}]" for d in dns]
            out.append(_option(version, tag, "dns-server", *dns))
        if version != 4:
            continue
        gateway = subnet.get("gateway_ip")
        routes = [f"{c},0.0.0.0" for c in onlink]
        for hr in subnet.get("host_routes") or []:
            if hr["destination"] == "0.0.0.0/0":
                gateway = gateway or hr["nexthop"]
            else:
                routes.append(f"{hr['destination']},{hr['nexthop']}")
        hop = (metadata_via or {}).get(subnet["id"])
        if hop:
            routes.append(f"{METADATA_CIDR},{hop}")
        if gateway:
            routes.append(f"0.0.0.0/0,{gateway}")
        out.append(_option(4, tag, "classless-static-route", ",".join(routes)))
        out.append(_option(4, tag, "249", ",".join(routes)))
        out.append(_option(4, tag, "router", gateway) if gateway
                   else _option(4, tag, "router"))
        if mtu:
            out.append(_option(4, tag, "mtu", str(mtu)))
    for port in sorted(ports, key=lambda p: p["id"]):
        for opt in port.get("extra_dhcp_opts") or []:
            if opt.get("opt_value") is None:
                continue
            version = int(opt.get("ip_version") or 4)
            out.append(_option(version, PORT_TAG % port["id"], str(opt["opt_name"]),
                               str(opt["opt_value"])))
    return "".join(line + "\n" for line in out)


def command_line(files: Files, interface: str, subnets: list[dict], *,
                 lease_s: int = LEASE_S, dom: str = DOMAIN) -> list[str]:
    """dnsmasq's argv for ``interface`` serving the DHCP-enabled ``subnets`` (sorted by
    id, so equal inputs give an equal argv): static ranges for IPv4 and stateful IPv6,
    ``ra-only`` (SLAAC) and ``ra-stateless`` ranges with ``--enable-ra`` for the
    others; IPv6 subnets longer than /64 are skipped, as Neutron does."""
    argv = [DNSMASQ, "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
            f"--pid-file={files.pid}", f"--dhcp-hostsfile={files.hosts}",
            f"--addn-hosts={files.addn_hosts}", f"--dhcp-optsfile={files.opts}",
            f"--log-facility={files.log}", "--leasefile-ro", "--user=root",
            "--group=root"]
    leases = 0
    ra = False
    for subnet in sorted(subnets, key=lambda s: s["id"]):
        net = ipaddress.ip_network(subnet["cidr"])
        tag = "set:" + SUBNET_TAG % subnet["id"]
        if net.version == 4:
            argv.append(f"--dhcp-range={tag},{net.network_address},static,"
                        f"{net.netmask},{lease_s}s")
        else:
            if net.prefixlen < 64:
                continue
            mode = _v6_mode(subnet)
            ra = ra or mode.startswith("ra-")
            argv.append(f"--dhcp-range={tag},{net.network_address},{mode},"
                        f"{net.prefixlen},{lease_s}s")
        leases += net.num_addresses
    argv += [f"--dhcp-lease-max={min(leases, LEASE_MAX)}", f"--interface={interface}",
             "--bind-interfaces", "--except-interface=lo", "--dhcp-authoritative",
             f"--domain={dom}", f"--local=/{dom}/"]
    if ra:
        argv.append("--enable-ra")
    return argv


# -- files ----------------------------------------------------------------------------

def write_if_changed(path: str, content: str) -> bool:
    """Atomically replace ``path`` with ``content`` (temp file + rename) unless it
    already holds exactly that. Returns whether it was written."""
    try:
        with open(path) as f:
            if f.read() == content:
                return False
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True


# -- the process ----------------------------------------------------------------------

def _cmdline(pid: int) -> list[str] | None:
    """The argv of live process ``pid`` (None when gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return None
    return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


def running(files: Files) -> tuple[int, list[str]] | None:
    """``(pid, argv)`` of the dnsmasq serving ``files`` if its pid file names a live
    process whose command line mentions ``files.dir``; else None."""
    try:
        with open(files.pid) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    argv = _cmdline(pid)
    if argv is None or not any(files.dir + os.sep in a for a in argv):
        return None
    return pid, argv


def start(ns: netns.Netns, files: Files, argv: list[str], timeout: float = 10.0) -> int:
    """Start dnsmasq ``argv`` inside ``ns`` (it daemonizes; startup errors raise
    :class:`KumoDataplaneError` with its message) and return the daemon's pid once its
    pid file names it."""
    try:
        os.unlink(files.pid)
    except FileNotFoundError:
        pass
    netns.run(ns, argv, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        found = running(files)
        if found is not None:
            return found[0]
        if time.monotonic() > deadline:
            raise KumoDataplaneError(" ".join(argv[:1]), "started but wrote no pid file")
        time.sleep(0.05)


def reload(pid: int) -> None:
    """SIGHUP: dnsmasq rereads its hosts, addn-hosts and opts files."""
    os.kill(pid, signal.SIGHUP)


def stop(files: Files, timeout: float = 5.0) -> bool:
    """Stop the dnsmasq serving ``files`` (SIGTERM, SIGKILL after ``timeout`` s);
    nothing if none runs. Returns whether one was running."""
    found = running(files)
    if found is None:
        return False
    pid = found[0]
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _cmdline(pid) is None:
                return True
            time.sleep(0.05)
    raise KumoDataplaneError(f"kill {pid}", "dnsmasq did not exit")


def ensure(ns: netns.Netns, files: Files, argv: list[str],
           contents: dict[str, str]) -> tuple[str, int]:
    """Make the dnsmasq of ``files`` run ``argv`` with the files ``contents``
    (``{path: text}``): files are rewritten atomically only when different; a running
    process with the same argv gets SIGHUP if a file changed (else nothing), one with
    another argv is restarted, none is started. (While the loaded hosts file carries
    ``set:`` tags, a change restarts instead of SIGHUP: see :func:`_tagged_hosts`.) Returns ``(action, pid)`` with action
    ``"unchanged" | "reloaded" | "restarted" | "started"``."""
    os.makedirs(files.dir, mode=0o700, exist_ok=True)
    tagged = _tagged_hosts(files)
    changed = False
    for path, text in contents.items():
        changed = write_if_changed(path, text) or changed
    found = running(files)
    if found is not None and found[1] == argv:
        if not changed:
            return "unchanged", found[0]
        if not tagged:
            reload(found[0])
            return "reloaded", found[0]
    action = "started"
    if found is not None:
        stop(files)
        action = "restarted"
    return action, start(ns, files, argv)


def _tagged_hosts(files: Files) -> bool:
    """Whether the hosts file dnsmasq has loaded carries ``set:`` tags.

    dnsmasq 2.90 may crash (SIGSEGV) on a SIGHUP after a client matched a ``dhcp-host``
    with a ``set:`` tag (the tag list of the host entry is linked to request-local
    tags and freed on reload). So while such tags are loaded a change restarts dnsmasq
    instead of reloading it; leases are static and in memory only
    (``--leasefile-ro``), so clients keep their addresses."""
    try:
        with open(files.hosts) as f:
            return ",set:" in f.read()
    except FileNotFoundError:
        return False
