"""Ports (Networking API v2.0: "Ports", "Port binding", "Allowed address pairs",
"Extra DHCP option (extra_dhcp_opt) extension", "Port security").

The internal API the other areas (routers, floating IPs, the data plane) use; every
call runs inside :meth:`kumo.network.manager.Networking.write`:

- :meth:`Ports.create` ``(session, ctx, attrs) -> Port``: ``attrs`` as the API's port
  body (``network_id`` required; ``fixed_ips`` as ``[{"subnet_id"?, "ip_address"?}]``,
  default one address of the first IPv4 subnet, of the first stateful IPv6 subnet and
  of every SLAAC subnet). Errors: 404 NetworkNotFound (invisible or not shared with
  the caller), 404 SubnetNotFound, 400 InvalidInput / InvalidIpForNetwork /
  InvalidIpForSubnet, 409 IpAddressAlreadyAllocated, 409 IpAddressGenerationFailure,
  409 MacAddressInUse, 400 PortSecurityAndIPRequiredForSecurityGroups, 409
  AddressPairAndPortSecurityRequired;
- :meth:`Ports.update`, :meth:`Ports.delete` (returns the addresses),
  :meth:`Ports.get` (404 PortNotFound), :meth:`Ports.set_status` /
  :meth:`Ports.set_statuses` (the data plane reports ``ACTIVE``/``DOWN``/``ERROR``, in
  a transaction of their own, not inside ``write``: :mod:`kumo.network.status`),
  :meth:`Ports.extras` (what rendering needs besides the rows; the attributes are
  :data:`kumo.network.definitions.PORT`);
- ``fixed_ips_of``/``security_groups_of`` for many ports at once.

Every change but a status report appends ``port`` to the change feed with the binding host (and a
``delete`` for the old host when the binding moves).
"""
from __future__ import annotations

import ipaddress
import random
import re

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kumo.common import exceptions as exc
from kumo.common.callbacks import DBEventPayload, Event, Resource
from kumo.common.context import RequestContext
from kumo.common.policy import sees_all
from kumo.common.timeutils import utcnow
from kumo.db import Prepared
from kumo.network import dns
from kumo.network import exceptions as nexc
from kumo.network import ipam, peers, scope
from kumo.network import status as status_reports
from kumo.network.manager import new_id, touch, visible_clause
from kumo.network.models import core
from kumo.network.models import ports as models
from kumo.network.subnets import DHCP_OWNER, bad

MAC_PREFIX = "fa:16:3e"
MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "remote-managed", "vdpa")
MAX_ADDRESS_PAIRS = 10
P = models.Port


class Ports:
    def __init__(self, networking):
        self.net = networking

    # -- visibility ----------------------------------------------------------------
    def visible(self, ctx: RequestContext):
        """Own ports, plus every port on the caller's own networks."""
        own_nets = sa.select(core.Network.id).where(
            core.Network.project_id == (ctx.project_id or ""))
        return visible_clause(P, ctx, P.network_id.in_(own_nets))

    def get(self, session, ctx: RequestContext, port_id: str) -> models.Port:
        """The port if visible; 404 PortNotFound otherwise."""
        row = session.scalar(_GET[sees_all(ctx)], {"id": port_id,
                                                  "project": ctx.project_id or ""})
        if row is None:
            raise nexc.PortNotFound(id=port_id)
        return row

    def get_row(self, session, ctx: RequestContext, port_id: str) -> sa.Row:
        """As :meth:`get`, as a read-only Core row with the port's columns plus
        ``network_owner`` (the network's project), for callers that only read it."""
        row = session.connection().execute(_ROW[sees_all(ctx)], {
            "id": port_id, "project": ctx.project_id or ""}).first()
        if row is None:
            raise nexc.PortNotFound(id=port_id)
        return row

    def network_for(self, session, ctx: RequestContext, network_id: str,
                    project_id: str) -> sa.Row:
        """The network a port of ``project_id`` may attach to, as a read-only row
        (404 NetworkNotFound)."""
        network = self.net.networks.row(session, ctx, network_id)
        if not sees_all(ctx) and not self.net.networks.shared_with(session, network,
                                                                   project_id):
            raise nexc.NetworkNotFound(id=network_id)
        return network

    def foreign_ports_on(self, session, network: core.Network) -> bool:
        """True if ports of other projects than the network's owner are on it."""
        return session.scalar(sa.select(P.id).where(
            P.network_id == network.id, P.project_id != network.project_id,
            P.device_owner != DHCP_OWNER).limit(1)) is not None

    # -- callbacks (subscribed in kumo.network.manager) -----------------------------
    def refuse_unshare(self, resource, event, trigger, payload) -> None:
        """``NETWORK`` ``BEFORE_UPDATE``: 409 when ``shared`` turns off while other
        projects than the owner have ports on the network."""
        row, attrs = payload.states
        if attrs.get("shared") is False and row.shared \
                and self.foreign_ports_on(payload.session, row):
            raise exc.Conflict(f"Unable to reconfigure sharing settings for network "
                               f"{row.id}. Multiple tenants are using it.")

    def refuse_network_in_use(self, resource, event, trigger, payload) -> None:
        """``NETWORK`` ``BEFORE_DELETE``: 409 NetworkInUse while ports other than DHCP
        ports remain."""
        if payload.session.scalar(sa.select(P.id).where(
                P.network_id == payload.resource_id,
                P.device_owner != DHCP_OWNER).limit(1)) is not None:
            raise nexc.NetworkInUse(id=payload.resource_id)

    def drop_network_ports(self, resource, event, trigger, payload) -> None:
        """``NETWORK`` ``PRECOMMIT_DELETE``: the network's (DHCP) ports go."""
        session = payload.session
        for r in list(session.scalars(sa.select(P).where(
                P.network_id == payload.resource_id))):
            if r.device_owner != DHCP_OWNER:  # refused before; never deleted here
                raise nexc.NetworkInUse(id=payload.resource_id)
            self.delete(session, payload.context, r)

    # -- create --------------------------------------------------------------------
    def create(self, session, ctx: RequestContext, attrs: dict, network=None) -> models.Port:
        """Create a port (see the module doc); ``network`` (a row of
        :meth:`network_for`) skips the lookup.

        The statements are Core ones on the session's connection (pending ORM changes
        are flushed first); the returned row is persistent in ``session``, so later
        changes to it are flushed as usual. What the port got (addresses, groups) is
        kept for :meth:`new_extras`."""
        session.flush()
        project_id = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
        if network is None:
            network = self.network_for(session, ctx, attrs["network_id"], project_id)
        now = utcnow()
        row = models.Port(
            id=new_id(), project_id=project_id, name=attrs.get("name") or "",
            description=attrs.get("description") or "", network_id=network.id,
            admin_state_up=attrs.get("admin_state_up", True), status="DOWN",
            device_id=attrs.get("device_id") or "",
            device_owner=attrs.get("device_owner") or "",
            host_id=attrs.get("binding:host_id") or "",
            vnic_type=self._vnic(attrs.get("binding:vnic_type")),
            profile=attrs.get("binding:profile") or {},
            extra_dhcp_opts=self._merge_opts([], attrs.get("extra_dhcp_opts") or []),
            dns_name=attrs.get("dns_name") or "", dns_domain=attrs.get("dns_domain") or "",
            created_at=now, updated_at=now, revision_number=0)
        requested_mac = attrs.get("mac_address")
        if requested_mac is not None:
            requested_mac = self._check_mac(requested_mac)
        psec = attrs.get("port_security_enabled")
        row.port_security_enabled = network.port_security_enabled if psec is None else psec
        pairs = attrs.get("allowed_address_pairs") or []
        if pairs and not row.port_security_enabled:
            raise nexc.AddressPairAndPortSecurityRequired()
        self._insert(session, row, requested_mac, pairs)
        if "fixed_ips" in attrs and attrs["fixed_ips"] is not None:
            held = self._allocate_requested(session, network, row, attrs["fixed_ips"])
        else:
            held = self._allocate_default(session, network, row)
        groups = attrs.get("security_groups")
        if not row.port_security_enabled:
            if groups:
                raise nexc.PortSecurityAndIPRequiredForSecurityGroups()
            groups = []
        elif groups is None:
            groups = self._default_groups(session, row)
        else:
            groups = self._check_groups(session, ctx, groups)
        if groups:
            _ADD_GROUP.run(session, [{"port_id": row.id, "security_group_id": g}
                                     for g in groups])
        self._changed(session, row)
        peers.wake(self.net, session, row.network_id, groups, [row.host_id], row.id)
        session.info.setdefault("new_ports", {})[row.id] = (held, sorted(groups))
        if attrs.get("qos_policy_id"):
            self.net.qos.bind(session, ctx, "port", row, attrs)
        return row

    def _insert(self, session, row: models.Port, mac: str | None, pairs: list[dict]) -> None:
        """Insert ``row`` with ``mac`` (409 MacAddressInUse when the network has it) or a
        random free MAC; the unique constraint on (network, MAC) decides, with no
        pre-check. Then attach ``row`` to the session as persistent."""
        conn = session.connection()
        stmt = _INSERT_PORT[conn.dialect.name]
        for _ in range(1 if mac is not None else 16):
            row.mac_address = mac or MAC_PREFIX + "".join(
                f":{random.randint(0, 255):02x}" for _ in range(3))
            row.allowed_address_pairs = self._pairs(pairs, row.mac_address)
            values = {c: getattr(row, c) for c in _PORT_COLUMNS}
            if conn.execute(stmt, values).rowcount == 1:
                orm.make_transient_to_detached(row)
                session.add(row)
                return
        if mac is not None:
            raise nexc.MacAddressInUse(net_id=row.network_id, mac=mac)
        raise nexc.MacAddressGenerationFailure(net_id=row.network_id)

    def _changed(self, session, row: models.Port, op: str = "update") -> None:
        """The port's change for its host; an unbound port's for the hosts with ports
        on its network (they serve its DHCP lease)."""
        if row.host_id:
            self.net.changed(session, "port", row.id, op, host=row.host_id)
        else:
            self.net.changed(session, "port", row.id, op,
                             hosts=scope.network_hosts(session, [row.network_id]))

    @staticmethod
    def _vnic(value: str | None) -> str:
        value = value or "normal"
        if value not in VNIC_TYPES:
            raise bad(f"binding:vnic_type '{value}' is not in {list(VNIC_TYPES)}")
        return value

    @staticmethod
    def _check_mac(requested: str) -> str:
        mac = requested.lower()
        if not MAC_RE.match(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
            raise bad(f"'{requested}' is not a valid MAC address")
        return mac

    def _mac(self, session, network_id: str, requested: str) -> str:
        """A new MAC for an existing port (409 MacAddressInUse when taken)."""
        mac = self._check_mac(requested)
        if session.scalar(sa.select(P.id).where(P.network_id == network_id,
                                                P.mac_address == mac)):
            raise nexc.MacAddressInUse(net_id=network_id, mac=mac)
        return mac

    @staticmethod
    def _pairs(pairs: list[dict], mac: str) -> list[dict]:
        if len(pairs) > MAX_ADDRESS_PAIRS:
            raise bad(f"The number of allowed address pair exceeds the maximum "
                      f"{MAX_ADDRESS_PAIRS}.")
        out = []
        for pair in pairs:
            ip = pair.get("ip_address")
            try:
                net = ipaddress.ip_network(str(ip), strict=False)
            except ValueError:
                raise bad(f"'{ip}' is not a valid IP address or CIDR") from None
            item = {"ip_address": str(net.network_address) if net.num_addresses == 1
                    and "/" not in str(ip) else str(ip),
                    "mac_address": (pair.get("mac_address") or mac).lower()}
            if not MAC_RE.match(item["mac_address"]):
                raise bad(f"'{pair.get('mac_address')}' is not a valid MAC address")
            if item in out:
                raise nexc.DuplicateAddressPairInRequest(**item)
            out.append(item)
        return out

    @staticmethod
    def _merge_opts(current: list[dict], given: list[dict]) -> list[dict]:
        """Extra DHCP options: set or (``opt_value`` null) remove by name and version."""
        out = {(o["opt_name"], o["ip_version"]): o for o in current}
        for opt in given:
            name = opt.get("opt_name")
            version = int(opt.get("ip_version") or 4)
            if not name or version not in (4, 6):
                raise bad(f"Invalid extra_dhcp_opt {opt}")
            if opt.get("opt_value") is None:
                out.pop((name, version), None)
            else:
                out[(name, version)] = {"opt_name": name, "opt_value": str(opt["opt_value"]),
                                        "ip_version": version}
        return list(out.values())

    # -- addresses -----------------------------------------------------------------
    def _candidates(self, subnets: list, device_owner: str) -> list:
        matching = [s for s in subnets if device_owner and device_owner in s.service_types]
        return matching or [s for s in subnets if not s.service_types]

    @staticmethod
    def _subnets(session, network_id: str) -> list[sa.Row]:
        """The network's subnets in creation order, as read-only rows."""
        return session.connection().execute(_SUBNETS_OF, {"n": network_id}).all()

    def _allocate_default(self, session, network, row: models.Port) -> list[dict]:
        all_subnets = self._subnets(session, network.id)
        subnets = self._candidates(all_subnets, row.device_owner)
        v4 = [s for s in subnets if s.ip_version == 4]
        v6 = [s for s in subnets if s.ip_version == 6 and not ipam.is_slaac(s)]
        held = []
        for group in (v4, v6):
            for s in group:
                ip = ipam.allocate(session, s, row.id, None, row.mac_address,
                                   row.device_owner)
                if ip is not None:
                    held.append((s, ip))
                    break
            else:
                if group:
                    raise nexc.IpAddressGenerationFailure(net_id=network.id)
        if not row.device_owner.startswith("network:router"):
            for s in subnets:
                if ipam.is_slaac(s):
                    held.append((s, ipam.allocate(session, s, row.id, None,
                                                  row.mac_address)))
        return _in_subnet_order(all_subnets, held)

    def _allocate_requested(self, session, network, row: models.Port, specs: list[dict],
                            keep: set = frozenset()) -> list[dict]:
        subnets = self._subnets(session, network.id)
        by_id = {s.id: s for s in subnets}
        held = []
        for spec in specs:
            sid, ip = spec.get("subnet_id"), spec.get("ip_address")
            if sid is None and ip is None:
                raise bad("fixed_ips entries need a subnet_id or an ip_address")
            if sid is not None:
                subnet = by_id.get(sid)
                if subnet is None:
                    if session.get(models.Subnet, sid) is None:
                        raise nexc.SubnetNotFound(id=sid)
                    raise bad(f"Failed to create port on network {network.id}, because "
                              f"fixed_ips included invalid subnet {sid}")
            else:
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    raise bad(f"'{ip}' is not a valid IP address") from None
                subnet = next((s for s in subnets if ipam.usable(s.cidr, addr)), None)
                if subnet is None:
                    raise nexc.InvalidIpForNetwork(ip_address=ip)
            if ip is not None:
                try:
                    ip = str(ipaddress.ip_address(ip))
                except ValueError:
                    raise bad(f"'{ip}' is not a valid IP address") from None
                if (subnet.id, ip) in keep:
                    continue
            got = ipam.allocate(session, subnet, row.id, ip, row.mac_address,
                                row.device_owner)
            if got is None:
                raise nexc.IpAddressGenerationFailure(net_id=network.id)
            held.append((subnet, got))
        return _in_subnet_order(subnets, held)

    def fixed_ips_of(self, session, port_ids: list[str]) -> dict[str, list[dict]]:
        return ipam.held_by(session, port_ids)

    # -- security groups -----------------------------------------------------------
    def _default_groups(self, session, row: models.Port) -> list[str]:
        if row.device_owner.startswith("network:"):
            return []
        group = self.net.security_groups.default_group_id(session, row.project_id)
        return [group] if group else []

    def _check_groups(self, session, ctx, ids: list[str]) -> list[str]:
        ids = list(dict.fromkeys(ids))
        if ids:
            self.net.security_groups.check_visible(session, ctx, ids)
        return ids

    @staticmethod
    def _set_groups(session, port_id: str, ids: list[str]) -> None:
        _DROP_GROUPS.run(session, {"p": port_id})
        if ids:
            _ADD_GROUP.run(session, [{"port_id": port_id, "security_group_id": g}
                                     for g in ids])

    def security_groups_of(self, session, port_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {p: [] for p in port_ids}
        PSG = models.PortSecurityGroup
        for chunk in range(0, len(port_ids), 500):
            for r in session.execute(sa.select(PSG.port_id, PSG.security_group_id).where(
                    PSG.port_id.in_(port_ids[chunk:chunk + 500]))):
                out[r.port_id].append(r.security_group_id)
        for groups in out.values():
            groups.sort()
        return out

    def ports_in_group(self, session, group_id: str) -> list[str]:
        """Ids of the ports using security group ``group_id``."""
        return list(session.scalars(sa.select(models.PortSecurityGroup.port_id).where(
            models.PortSecurityGroup.security_group_id == group_id)))

    # -- update / delete -----------------------------------------------------------
    def update(self, session, ctx: RequestContext, row: models.Port, attrs: dict) -> None:
        """Apply updatable attributes (network_id is fixed). ``fixed_ips`` replaces the
        port's addresses: entries naming a held address keep it."""
        old_host = row.host_id
        network = session.get(core.Network, row.network_id)
        if "mac_address" in attrs and attrs["mac_address"].lower() != row.mac_address:
            if row.host_id:
                raise nexc.PortBound(id=row.id, host=row.host_id)
            row.mac_address = self._mac(session, row.network_id, attrs["mac_address"])
        for key, column in (("name", "name"), ("description", "description"),
                            ("admin_state_up", "admin_state_up"), ("device_id", "device_id"),
                            ("device_owner", "device_owner"),
                            ("binding:host_id", "host_id"), ("binding:profile", "profile")):
            if key in attrs:
                value = attrs[key]
                setattr(row, column, value if value is not None else
                        ({} if column == "profile" else ""))
        if "binding:vnic_type" in attrs:
            row.vnic_type = self._vnic(attrs["binding:vnic_type"])
        for key in ("dns_name", "dns_domain"):  # dns-integration, dns-domain-ports
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        if "extra_dhcp_opts" in attrs:
            row.extra_dhcp_opts = self._merge_opts(row.extra_dhcp_opts or [],
                                                   attrs["extra_dhcp_opts"] or [])
        if "port_security_enabled" in attrs:
            row.port_security_enabled = attrs["port_security_enabled"]
        groups = old_groups = self.security_groups_of(session, [row.id])[row.id]
        if "security_groups" in attrs:
            groups = self._check_groups(session, ctx, attrs["security_groups"] or [])
        if not row.port_security_enabled:
            if groups:
                if "security_groups" in attrs:
                    raise nexc.PortSecurityAndIPRequiredForSecurityGroups()
                raise nexc.PortSecurityPortHasSecurityGroup()
        if "allowed_address_pairs" in attrs:
            row.allowed_address_pairs = self._pairs(attrs["allowed_address_pairs"] or [],
                                                    row.mac_address)
        if row.allowed_address_pairs and not row.port_security_enabled:
            raise nexc.AddressPairAndPortSecurityRequired()
        if "security_groups" in attrs:
            self._set_groups(session, row.id, groups)
        if attrs.get("fixed_ips") is not None:
            self._replace_ips(session, network, row, attrs["fixed_ips"])
        touch(row)
        if old_host and old_host != row.host_id:
            self.net.changed(session, "port", row.id, "delete", host=old_host)
        self._changed(session, row)
        self.net.qos.bind(session, ctx, "port", row, attrs)
        if old_host != row.host_id:
            self.net.trunks.parent_moved(session, row)  # sub-ports follow their parent
            self.net.taas.port_moved(session, row)  # tap flows' other ends are told
        if old_host != row.host_id or _PEER_VISIBLE & attrs.keys():
            peers.wake(self.net, session, row.network_id, set(old_groups) | set(groups),
                       [old_host, row.host_id], row.id)

    def _replace_ips(self, session, network, row: models.Port, specs: list[dict]) -> None:
        held = self.fixed_ips_of(session, [row.id])[row.id]
        wanted = set()
        specs = [dict(s) for s in specs]
        for spec in specs:
            if not spec.get("ip_address") and spec.get("subnet_id"):
                same = [h for h in held if h["subnet_id"] == spec["subnet_id"]
                        and (h["subnet_id"], h["ip_address"]) not in wanted]
                if same:
                    spec["ip_address"] = same[0]["ip_address"]
            if spec.get("ip_address"):
                try:
                    ip = str(ipaddress.ip_address(spec["ip_address"]))
                except ValueError:
                    raise bad(f"'{spec['ip_address']}' is not a valid IP address") from None
                for h in held:
                    if h["ip_address"] == ip and spec.get("subnet_id") in (None, h["subnet_id"]):
                        wanted.add((h["subnet_id"], ip))
        for h in held:
            if (h["subnet_id"], h["ip_address"]) not in wanted:
                ipam.release(session, session.get(models.Subnet, h["subnet_id"]),
                             h["ip_address"])
        session.flush()
        self._allocate_requested(session, network, row, specs, keep=wanted)

    def set_status(self, port_id: str, status: str) -> None:
        """The data plane's report (``ACTIVE``/``DOWN``/``ERROR``) in a short
        transaction of its own, no revision row, no feed change
        (:mod:`kumo.network.status`); 404 PortNotFound."""
        if not status_reports.set_status(self.net.db, P.__table__, port_id, status):
            raise nexc.PortNotFound(id=port_id)

    def set_statuses(self, statuses: dict[str, str]) -> list[str]:
        """Many ports' reports (``{port_id: status}``) in one such transaction; returns
        the unknown ids."""
        return status_reports.set_statuses(self.net.db, P.__table__, statuses)

    def delete(self, session, ctx: RequestContext, row) -> list[dict]:
        """Delete the port and give its addresses back to their pools (returned as
        ``[{"subnet_id", "ip_address"}]``). ``row`` is the ORM row or a
        :meth:`get_row` row. Publishes ``PORT`` ``BEFORE_DELETE`` (routers refuse to
        let their own ports go this way: 409 ServicePortInUse) and ``PRECOMMIT_DELETE``
        (floating IPs on the port are disassociated) first, with a
        :class:`~kumo.common.callbacks.DBEventPayload` whose state is ``row``."""
        payload = DBEventPayload(ctx, resource_id=row.id, states=(row,), session=session)
        self.net.callbacks.publish(Resource.PORT, Event.BEFORE_DELETE, self, payload)
        self.net.callbacks.publish(Resource.PORT, Event.PRECOMMIT_DELETE, self, payload)
        session.flush()
        groups = self.security_groups_of(session, [row.id])[row.id]
        released = ipam.release_port(session, row.id)
        _DROP_GROUPS.run(session, {"p": row.id})
        self.net.delete_tags(session, row.id)
        _DROP_PORT.run(session, {"p": row.id})
        if isinstance(row, models.Port) and row in session:
            session.expunge(row)
        self._changed(session, row, "delete")
        peers.wake(self.net, session, row.network_id, groups, [row.host_id], row.id)
        return released

    # -- rendering -----------------------------------------------------------------
    def snapshot(self, session, host: str | None, keys: dict | None = None) -> dict:
        """The feed's ports: all, or for ``host`` those bound to it and the unbound
        ones on its networks (:func:`kumo.network.scope.ports_clause`), rendered as
        for an admin (with ``binding:*``); ``keys``: only those ids."""
        stmt = sa.select(P).order_by(P.id)
        stmt = scope.keyed(stmt, keys, "ports", P.id)
        if stmt is None:
            return {}
        if host is not None:
            stmt = stmt.where(scope.ports_clause(host))
        from kumo.network.definitions import PORT

        rows = list(session.scalars(stmt))
        ports = PORT.render(rows, self.extras(session, rows), every=True)
        self.net.qos.annotate(session, ports)
        self.net.taas.annotate(session, ports)
        return {"ports": ports}

    def extras(self, session, rows: list) -> dict:
        """What rendering ports needs besides their rows (the extras of
        :data:`kumo.network.definitions.PORT`): ``{"tags", "fixed_ips",
        "security_groups"}``, each id -> value; three set-based queries for any number
        of rows."""
        ids = [r.id for r in rows]
        return {"tags": self.net.tags_of(session, ids),
                "fixed_ips": self.fixed_ips_of(session, ids),
                "security_groups": self.security_groups_of(session, ids),
                "dns_domains": dns.domains_of(session, [r.network_id for r in rows]),
                **self.net.qos.port_extras(session, rows),
                **self.net.trunks.port_extras(session, rows)}

    def new_extras(self, session, rows: list[models.Port],
                   tags: dict[str, list[str]]) -> dict:
        """:meth:`extras` of ports :meth:`create` just made in this transaction, from
        what it recorded (no queries); ``tags``: id -> rendered tags."""
        made = session.info.get("new_ports", {})
        if any(r.id not in made for r in rows):
            return self.extras(session, rows)
        return {"tags": {r.id: tags.get(r.id, []) for r in rows},
                "fixed_ips": {r.id: made[r.id][0] for r in rows},
                "security_groups": {r.id: made[r.id][1] for r in rows},
                "dns_domains": dns.domains_of(session, [r.network_id for r in rows]),
                **self.net.qos.port_extras(session, rows),
                "trunk_details": {}}  # a port just made is no trunk's parent yet

    def policy_target(self, session, row) -> dict:
        """The policy target of a port: its project and its network's
        (``network_owner``)."""
        network = session.get(core.Network, row.network_id)
        return {"project_id": row.project_id,
                "network_owner": network.project_id if network else row.project_id}


def _in_subnet_order(subnets: list, held: list[tuple]) -> list[dict]:
    """``fixed_ips`` from ``(subnet, address)`` pairs, ordered as :func:`ipam.held_by`
    orders them (subnet creation order)."""
    rank = {s.id: i for i, s in enumerate(subnets)}
    return [{"subnet_id": s.id, "ip_address": ip}
            for s, ip in sorted(held, key=lambda h: rank.get(h[0].id, len(rank)))]


#: Port attributes other hosts' snapshots (L2 population, group members) or the
#: port's own host's scope (DHCP serves networks with non-``network:*`` ports) show.
_PEER_VISIBLE = {"mac_address", "fixed_ips", "security_groups", "allowed_address_pairs",
                 "port_security_enabled", "device_owner"}
_PT, _NT = P.__table__, core.Network.__table__
_PORT_COLUMNS = [c.name for c in _PT.columns]
#: Insert a port unless its MAC is taken on the network (then no row: rowcount 0).
_INSERT_PORT = {
    name: dialect.insert(_PT).on_conflict_do_nothing(
        index_elements=["network_id", "mac_address"]).execution_options(
        preserve_rowcount=True)
    for name, dialect in (("sqlite", sqlite_dialect), ("postgresql", pg_dialect))}
_DROP_PORT = Prepared(sa.delete(_PT).where(_PT.c.id == sa.bindparam("p")))
_PSG = models.PortSecurityGroup.__table__
_ADD_GROUP = Prepared(sa.insert(_PSG))
_DROP_GROUPS = Prepared(sa.delete(_PSG).where(_PSG.c.port_id == sa.bindparam("p")))
_SUBNETS_OF = (sa.select(models.Subnet.__table__)
               .where(models.Subnet.__table__.c.network_id == sa.bindparam("n"))
               .order_by(models.Subnet.__table__.c.created_at, models.Subnet.__table__.c.id))
# By id, visible to the caller (own ports, and every port on own networks); built once
# per kind of caller (admin or not).
_OWN = sa.or_(P.project_id == sa.bindparam("project"),
              P.network_id.in_(sa.select(core.Network.id).where(
                  core.Network.project_id == sa.bindparam("project"))))
_GET = {True: sa.select(P).where(P.id == sa.bindparam("id")),
        False: sa.select(P).where(P.id == sa.bindparam("id"), _OWN)}
_WITH_OWNER = (sa.select(_PT, _NT.c.project_id.label("network_owner"))
               .outerjoin(_NT, _NT.c.id == _PT.c.network_id))
_ROW = {True: _WITH_OWNER.where(_PT.c.id == sa.bindparam("id")),
        False: _WITH_OWNER.where(_PT.c.id == sa.bindparam("id"),
                                 sa.or_(_PT.c.project_id == sa.bindparam("project"),
                                        _NT.c.project_id == sa.bindparam("project")))}
