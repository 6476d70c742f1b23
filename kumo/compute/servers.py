"""Servers (Compute API "Servers (servers)", "Port interfaces (servers,
os-interface)"): create with scheduling and ports, lookups, lists with the reference's
filters, update and delete.

A server's ports live in the networking service: create makes one port per requested
network (``device_owner`` ``compute:nova``, ``device_id`` the server id,
``binding:host_id`` the chosen host, the requested security groups or the project's
default group) or takes over a given port, in the same transaction as the instance
rows, so a failure leaves neither. Delete removes the ports it created and unbinds the
ones it was given. All of it goes through networking's port API
(:mod:`kumo.network.port_api`); compute never reads networking's tables.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import secrets
import uuid

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import utcnow
from kumo.compute import schemas
from kumo.compute.models import Console, Diagnostics, Instance, InstanceAction, ServerGroup
from kumo.compute.scheduler import NoValidHost
from kumo.network import port_api

LOG = logging.getLogger(__name__)

OWNER = port_api.OWNER



#: Nova's ``accessIPv4``/``accessIPv6`` (Compute API "Create Server"): addresses the
#: user says the server is reached at; stored in the instance's system metadata (Nova
#: keeps them in columns ``access_ip_v4/6``), shown as given, "" when never set.
ACCESS_IPS = (("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6"))


def access_ips(attrs: dict) -> dict:
    """The access addresses ``attrs`` (a create, update or rebuild body; the schemas
    checked them) sets, as system metadata keys, normalized as Nova's address columns
    store them (``0000::babe:220.12.22.2`` -> ``::babe:dc0c:1602``); an empty string or
    null clears one."""
    return {key: ipaddress.ip_address(attrs[name]).compressed if attrs[name] else ""
            for name, key in ACCESS_IPS if name in attrs}


def server_sysmeta(attrs: dict) -> dict:
    """The system metadata a create, update or rebuild body (or a resize argument)
    sets: the access addresses (:func:`access_ips`) and Nova's ``OS-DCF:diskConfig``
    (``AUTO``/``MANUAL``, the schemas checked it; Nova's ``auto_disk_config`` column)
    as ``disk_config``."""
    out = access_ips(attrs)
    if attrs.get("OS-DCF:diskConfig"):
        out["disk_config"] = attrs["OS-DCF:diskConfig"]
    return out


def image_shown(row) -> str | None:
    """The image id a server shows: none for a server booted from a volume without
    ``imageRef`` (Nova's ``"image": ""``; Kumo still runs it from the boot volume's
    image, ``system_metadata["boot_from_volume"]``)."""
    if (row.system_metadata or {}).get("boot_from_volume"):
        return None
    return row.image_id


def disk_config_of(row) -> str:
    """``OS-DCF:diskConfig`` of an instance row: MANUAL unless AUTO was asked for."""
    return (row.system_metadata or {}).get("disk_config") or "MANUAL"


def access_ips_of(row) -> dict:
    """``{"accessIPv4": ..., "accessIPv6": ...}`` of an instance row."""
    meta = row.system_metadata or {}
    return {name: meta.get(key) or "" for name, key in ACCESS_IPS}


def config_drive_of(asked, force: bool, image_policy: str | None) -> str:
    """Nova's stored ``config_drive`` for a new server (``configdrive.required_by``):
    ``"True"`` when the create asks for one (``asked``: a value of
    :data:`kumo.compute.schemas.CONFIG_DRIVE` or None), the cloud forces one
    (``compute_force_config_drive``, Nova's ``force_config_drive``) or the image's
    ``img_config_drive`` is ``mandatory``; else ``""``."""
    wanted = asked is not None and schemas.as_bool(asked)
    return "True" if wanted or force or image_policy == "mandatory" else ""


class InstanceNotFound(exc.NotFound):
    message = "Instance %(id)s could not be found."


def _ref(value: str) -> str:
    """An id from an id or a URL (``imageRef``/``flavorRef`` may be links)."""
    return str(value).rstrip("/").rsplit("/", 1)[-1]


def hostname_of(name: str) -> str:
    """Nova's sanitized hostname: lowercase, ``[a-z0-9-]``, at most 63 characters."""
    text = re.sub(r"[^a-z0-9.-]+", "-", name.lower().replace("_", "-"))
    text = text.strip(".-")[:63].strip(".-")
    return text or "server"


class Servers:
    def __init__(self, compute):
        self.compute = compute

    @property
    def ports(self):
        """Networking's port API: the only way compute touches ports."""
        return self.compute.networking.port_api

    # -- lookups -------------------------------------------------------------------------
    def get(self, session, ctx, server_id: str, deleted: bool = False) -> Instance:
        """The server if ``ctx`` may see it (admins: any project); 404 otherwise."""
        stmt = sa.select(Instance).where(Instance.id == server_id)
        if not deleted:
            stmt = stmt.where(Instance.deleted.is_(False))
        if ctx is not None and not ctx.is_admin:
            stmt = stmt.where(Instance.project_id == (ctx.project_id or ""))
        row = session.scalar(stmt)
        if row is None:
            raise InstanceNotFound(id=server_id)
        return row

    def port_facts(self, session, port_ids: list[str]) -> dict[str, dict]:
        """The ports as networking's port API gives them
        (:meth:`kumo.network.port_api.PortAPI.facts`)."""
        return self.ports.facts(session, port_ids)

    def addresses(self, session, rows: list[Instance]) -> dict[str, dict]:
        """Per server id, the reference's ``addresses``: ``{network_name: [{"version",
        "addr", "OS-EXT-IPS:type": "fixed"|"floating", "OS-EXT-IPS-MAC:mac_addr"}]}``."""
        port_ids = [p["port_id"] for r in rows for p in r.ports]
        facts = self.ports.facts(session, port_ids)
        floating = self.ports.floating_ips(session, port_ids)
        out = {}
        for r in rows:
            addrs: dict[str, list] = {}
            for p in r.ports:
                fact = facts.get(p["port_id"])
                if fact is None:
                    continue
                entries = addrs.setdefault(fact["network_name"], [])
                for ip in fact["fixed_ips"]:
                    entries.append({"version": ip["version"], "addr": ip["ip_address"],
                                    "OS-EXT-IPS:type": "fixed",
                                    "OS-EXT-IPS-MAC:mac_addr": fact["mac_address"]})
                for fip in floating.get(p["port_id"], []):
                    entries.append({"version": 4, "addr": fip,
                                    "OS-EXT-IPS:type": "floating",
                                    "OS-EXT-IPS-MAC:mac_addr": fact["mac_address"]})
            out[r.id] = addrs
        return out

    # -- create --------------------------------------------------------------------------
    def prepare(self, ctx, body: dict, auto_networks: bool) -> dict:
        """Check a validated create body against the cloud (flavor, image, key, user
        data, zone, group, networks, security groups); 400 on anything unknown.
        Returns the resolved request."""
        c = self.compute
        st = c.settings
        flavor = self._flavor(ctx, body["flavorRef"])
        image, image_props = self._image_and_props(ctx, body.get("imageRef") or "",
                                                   flavor)
        key_data = None
        if body.get("key_name"):
            try:
                key_data = c.keypairs.get(ctx.user_id, body["key_name"]).public_key
            except exc.NotFound:
                raise exc.BadRequest("Invalid key_name provided.") from None
        user_data = body.get("user_data")
        if user_data is not None:
            if len(user_data) > st.compute_max_user_data_bytes:
                raise exc.BadRequest(
                    "User data too large. User data must be no larger than "
                    f"{st.compute_max_user_data_bytes} bytes once base64 encoded. Your "
                    f"data is {len(user_data)} bytes")
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, ValueError):
                raise exc.BadRequest("User data needs to be valid base 64.") from None
        config_drive = config_drive_of(body.get("config_drive"),
                                       st.compute_force_config_drive,
                                       image_props.get("img_config_drive"))
        az, forced_host = body.get("availability_zone"), None
        if az and ":" in az:
            az, _, forced_host = az.partition(":")
            if not ctx.is_admin:
                raise exc.PolicyNotAuthorized(
                    action="os_compute_api:servers:create:forced_host")
            az = az or None
        if az:
            zones = set(c.hosts.zones()) | {st.compute_default_availability_zone}
            if az not in zones:
                raise exc.BadRequest("The requested availability zone is not available")
        group = None
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") \
            or {}
        if hints.get("group"):
            with c.read() as s:
                group = s.get(ServerGroup, str(hints["group"]))
            if group is None or (not ctx.is_admin and group.project_id != ctx.project_id):
                raise exc.BadRequest(f"Invalid server group {hints['group']}.")
        networks = self._networks(ctx, body.get("networks"), auto_networks)
        groups = self._security_groups(ctx, body.get("security_groups"))
        return {"flavor": flavor, "image": image, "key_data": key_data, "az": az,
                "forced_host": forced_host, "group": group, "networks": networks,
                "security_groups": groups, "hints": hints, "config_drive": config_drive}

    def _flavor(self, ctx, ref) -> dict:
        try:
            f = self.compute.flavors.get(ctx, _ref(ref))
        except exc.NotFound:
            raise exc.BadRequest(f"Flavor {_ref(ref)} could not be found.") from None
        return {"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
                "ephemeral": f.ephemeral, "swap": f.swap,
                "extra_specs": dict(f.extra_specs or {})}

    def _image(self, ctx, ref: str, flavor: dict) -> dict:
        """The boot image's record kept on the server (400 when it cannot boot)."""
        return self._image_and_props(ctx, ref, flavor)[0]

    def _image_and_props(self, ctx, ref: str, flavor: dict) -> tuple[dict, dict]:
        """:meth:`_image`'s record and the image's properties (``{name: value}``)."""
        image_id = _ref(ref)
        if not image_id:
            raise exc.BadRequest("Missing imageRef attribute (Kumo boots from images "
                                 "only; block device mappings are not supported).")
        try:
            image = self.compute.images.get(ctx, image_id)
        except exc.NotFound:
            raise exc.BadRequest("Can not find requested image") from None
        if image.status != "active":
            raise exc.BadRequest(f"Image {image_id} is not active.")
        if image.min_ram and flavor["ram"] < image.min_ram:
            raise exc.BadRequest("Flavor's memory is too small for requested image.")
        if image.min_disk and flavor["disk"] < image.min_disk:
            raise exc.BadRequest("Flavor's disk is too small for requested image.")
        props = {p.name: p.value for p in image.properties}
        return {"id": image.id, "name": image.name,
                "container_format": image.container_format,
                "disk_format": image.disk_format, "size": image.size,
                "checksum": image.checksum, "kumo_rootfs": props.get("kumo_rootfs"),
                "min_ram": image.min_ram, "min_disk": image.min_disk}, props

    def _networks(self, ctx, requested, auto: bool) -> list[dict]:
        """``[{"network_id", "port_id", "fixed_ip"}]`` from the ``networks`` request."""
        if requested == "none":
            return []
        if requested is None or requested == "auto":
            ids = self.ports.auto_networks(ctx)
            if len(ids) > 1:
                raise exc.Conflict("Multiple possible networks found, use a Network ID "
                                   "to be more specific.")
            if not ids:
                if requested == "auto":  # Neutron's "get me a network" builds one
                    try:
                        ids = [self.ports.auto_allocate(ctx)]
                    except exc.Conflict:
                        raise exc.BadRequest("Unable to automatically allocate a network "
                                             f"for project {ctx.project_id}") from None
                else:
                    return []
            return [{"network_id": ids[0], "port_id": None, "fixed_ip": None}]
        out = []
        for item in requested:
            port_id, net_id = item.get("port"), item.get("uuid")
            fixed = item.get("fixed_ip")
            if fixed is not None:
                try:
                    fixed = str(ipaddress.ip_address(fixed))
                except ValueError:
                    raise exc.BadRequest(f"Invalid fixed IP address ({fixed})") from None
            if port_id:
                try:
                    network_id = self.ports.check_port(ctx, port_id)
                except exc.NotFound:
                    raise exc.BadRequest(f"Port {port_id} could not be found.") from None
                out.append({"network_id": network_id, "port_id": port_id,
                            "fixed_ip": None})
                continue
            if not net_id:
                raise exc.BadRequest("Bad networks format: network uuid is not in "
                                     "proper format ()")
            try:
                self.ports.check_network(ctx, net_id)
            except exc.NotFound:
                raise exc.BadRequest(f"Network {net_id} could not be found.") from None
            out.append({"network_id": net_id, "port_id": None, "fixed_ip": fixed})
        return out

    def _security_groups(self, ctx, requested) -> list[tuple[str | None, str]]:
        """``[(id, name)]`` for the requested names or ids (``(None, "default")``: the
        project's default group, made when the server is)."""
        if not requested:
            return []
        out = []
        for item in requested:
            name = item.get("name")
            found = self.ports.find_security_group(ctx, name)
            if found is None and name == "default":
                out.append((None, "default"))
                continue
            if found is None:
                raise exc.BadRequest(f"Security group {name} not found for project "
                                     f"{ctx.project_id}.")
            if found not in out:
                out.append(found)
        return out

    def create(self, ctx, body: dict, plan: dict, request_id: str) -> list[Instance]:
        """Create ``min_count``..``max_count`` servers in one transaction: quota
        check (403), scheduling (no valid host: the servers go to ERROR with a fault,
        as Nova's conductor does), instance rows, ports, feed changes."""
        c = self.compute
        min_count = int(body.get("min_count", 1))
        max_count = int(body.get("max_count", min_count))
        if max_count < min_count:
            raise exc.BadRequest("min_count must be <= max_count")
        flavor = plan["flavor"]
        now = utcnow()
        reservation = "r-" + secrets.token_hex(4)
        metadata = body.get("metadata") or {}
        with c.write(network=True) as s:
            c.quotas.check_metadata(s, ctx.project_id, metadata)
            count = c.quotas.check_servers(s, ctx.project_id, max_count, flavor["vcpus"],
                                           flavor["ram"], min_count)
            group = plan["group"]
            group_hosts = []
            if group is not None:
                group = s.get(ServerGroup, group.id)
                limit = c.quotas.limit(s, group.project_id, "server_group_members")
                if 0 <= limit < len(group.members) + count:
                    raise exc.Forbidden("Quota exceeded, too many servers in group")
                group_hosts = list(s.scalars(sa.select(Instance.host).where(
                    Instance.id.in_(group.members), Instance.host.is_not(None),
                    Instance.deleted.is_(False))))
            try:
                chosen = c.scheduler.select(
                    s, flavor, count, plan["az"], group, group_hosts=group_hosts,
                    candidates=self._forced(s, plan["forced_host"]))
                fault = None
            except NoValidHost as e:
                chosen, fault = [None] * count, {"code": 500, "message": e.message,
                                                 "created": now.isoformat() + "Z"}
                no_host = e
            rows = []
            name = body["name"]
            sg_ids = None
            if plan["security_groups"]:
                sg_ids = [gid or self.ports.default_security_group(s, ctx.project_id)
                          for gid, _ in plan["security_groups"]]
            for index, pick in enumerate(chosen):
                display = f"{name}-{index + 1}" if count > 1 else name
                row = Instance(
                    # a boot from volume names its server first (its attachments
                    # exist before the row: kumo/compute/api/servers.py)
                    id=(count == 1 and plan.get("server_id")) or str(uuid.uuid4()),
                    project_id=ctx.project_id, user_id=ctx.user_id,
                    display_name=display, description=body.get("description"),
                    hostname=hostname_of(display),
                    host=pick.host if pick else None, node=pick.node if pick else None,
                    availability_zone=(pick.az if pick else plan["az"]),
                    requested_az=plan["az"],
                    vm_state="building" if pick else "error",
                    task_state="spawning" if pick else None, power_state=0,
                    image_id=plan["image"]["id"], image=plan["image"], flavor=flavor,
                    vcpus=flavor["vcpus"], memory_mb=flavor["ram"], root_gb=flavor["disk"],
                    key_name=body.get("key_name"), key_data=plan["key_data"],
                    user_data=body.get("user_data"), meta=dict(metadata),
                    config_drive=plan.get("config_drive") or "",
                    system_metadata={**server_sysmeta(body),
                                     **plan.get("system_metadata", {})} or None,
                    tags=list(dict.fromkeys(body.get("tags") or [])),
                    security_groups=[n for _, n in plan["security_groups"]] or ["default"],
                    ports=[], fault=fault, tried_hosts=[pick.host] if pick else [],
                    scheduler_hints=plan["hints"],
                    server_group_id=group.id if group is not None else None,
                    locked=False, reservation_id=reservation, launch_index=index,
                    reboot_seq=0, reboot_type="SOFT", rebuild_seq=0, power="on",
                    revision=0, deleted=False, created_at=now, updated_at=now)
                s.add(row)
                if pick is not None:
                    row.ports = self._make_ports(s, ctx, row, plan["networks"], sg_ids)
                if group is not None:
                    group.members = list(group.members) + [row.id]
                s.add(InstanceAction(
                    instance_id=row.id, request_id=request_id, action="create",
                    project_id=ctx.project_id, user_id=ctx.user_id,
                    message="Error" if fault else None, start_time=now, updated_at=now,
                    events=[{"event": "compute__do_build_and_run_instance",
                             "start_time": now.isoformat(), "finish_time": None,
                             "result": "Error" if fault else None, "traceback": None,
                             "host": pick.host if pick else None}]))
                s.flush()
                c.changed(s, row)
                rows.append(row)
        for row in rows:  # committed: say why they failed
            if row.fault:
                LOG.error("Build of instance %s failed: %s (%s)", row.id,
                          row.fault["message"], no_host.reason)
        return rows

    def _forced(self, session, host: str | None):
        if not host:
            return None
        cands = [x for x in self.compute.scheduler.candidates(session) if x.host == host]
        if not cands:
            raise exc.BadRequest(f"Compute host {host} could not be found.")
        return cands

    def _make_ports(self, session, ctx, row: Instance, networks: list[dict],
                    sg_ids: list[str] | None) -> list[dict]:
        """Create or take over the server's ports, bound to ``row.host``."""
        out = []
        for spec in networks:
            if spec["port_id"]:
                out.append(self.ports.attach(session, ctx, spec["port_id"], row.id,
                                             row.host))
                continue
            out.append(self.ports.create(
                session, ctx, network_id=spec["network_id"], device_id=row.id,
                host=row.host, project_id=row.project_id, fixed_ip=spec["fixed_ip"],
                security_groups=sg_ids, dns_name=row.hostname))
        return out

    def rebind(self, session, row: Instance, host: str | None) -> None:
        """Move the server's ports to ``host`` (None: unbind)."""
        self.ports.bind(session, [p["port_id"] for p in row.ports], host)

    # -- interfaces ----------------------------------------------------------------------
    def attach_interface(self, ctx, server_id: str, body: dict) -> dict:
        """``os-interface`` create: a new port on ``net_id`` or the given ``port_id``."""
        c = self.compute
        spec = {"port": body.get("port_id"), "uuid": body.get("net_id")}
        if body.get("fixed_ips"):
            spec["fixed_ip"] = body["fixed_ips"][0].get("ip_address")
        if not spec["port"] and not spec["uuid"]:
            networks = self._networks(ctx, None, True)
        else:
            networks = self._networks(ctx, [{k: v for k, v in spec.items() if v}], True)
        with c.write(network=True) as s:
            row = self.get(s, ctx, server_id)
            self.check_unlocked(ctx, row)
            if row.vm_state not in ("active", "stopped", "paused") or row.task_state:
                raise InstanceInvalidState(row, "attach_interface")
            made = self._make_ports(s, ctx, row, networks, None)
            row.ports = list(row.ports) + made
            row.updated_at = utcnow()
            c.changed(s, row)
            return made[0]

    def detach_interface(self, ctx, server_id: str, port_id: str) -> None:
        c = self.compute
        with c.write(network=True) as s:
            row = self.get(s, ctx, server_id)
            self.check_unlocked(ctx, row)
            mine = [p for p in row.ports if p["port_id"] == port_id]
            if not mine:
                raise exc.NotFound(f"Port {port_id} is not attached")
            self._release_ports(s, mine)
            row.ports = [p for p in row.ports if p["port_id"] != port_id]
            row.updated_at = utcnow()
            c.changed(s, row)

    def _release_ports(self, session, ports: list[dict]) -> None:
        self.ports.release(session, ports)

    # -- update / delete -----------------------------------------------------------------
    def update(self, ctx, server_id: str, attrs: dict) -> Instance:
        with self.compute.write() as s:
            row = self.get(s, ctx, server_id)
            if "name" in attrs:
                row.display_name = attrs["name"]
            if "description" in attrs:
                row.description = attrs["description"]
            if "hostname" in attrs:
                row.hostname = attrs["hostname"]
            if server_sysmeta(attrs):
                row.system_metadata = {**(row.system_metadata or {}),
                                       **server_sysmeta(attrs)}
            row.updated_at = utcnow()
            self.compute.changed(s, row)
            return row

    @staticmethod
    def check_unlocked(ctx, row: Instance) -> None:
        if row.locked and not ctx.is_admin:
            raise exc.Conflict(f"Instance {row.id} is locked")

    def delete(self, ctx, server_id: str, request_id: str, force: bool = False) -> None:
        """Delete now: ports released, the row kept as ``deleted`` (Nova's soft-deleted
        rows), the host's agent told to remove the instance. 409 when locked."""
        c = self.compute
        with c.write(network=True) as s:
            row = self.get(s, ctx, server_id)
            self.check_unlocked(ctx, row)
            self._release_ports(s, row.ports)
            host = row.host
            now = utcnow()
            # as Nova: a shelved server's snapshot, a move's transient image go with it
            doomed = [(row.system_metadata or {}).get(k) for k in (
                "moved_image_id", "resize_image_id") + (
                    ("shelved_image_id",) if row.vm_state in (
                    "shelved", "shelved_offloaded") else ())]
            row.vm_state, row.task_state, row.power_state = "deleted", None, 0
            row.deleted, row.terminated_at, row.updated_at = True, now, now
            row.ports = []
            s.execute(sa.delete(Console).where(Console.instance_id == row.id))
            s.execute(sa.delete(Diagnostics).where(Diagnostics.instance_id == row.id))
            if row.server_group_id:
                group = s.get(ServerGroup, row.server_group_id)
                if group is not None:
                    group.members = [m for m in group.members if m != row.id]
            c.actions.record(s, ctx, row, "forceDelete" if force else "delete",
                             request_id, done=True)
            if host:
                c.changed(s, row, "delete", host=host)
            row.host = None
        # its volumes: detached; the delete_on_termination ones deleted
        c.cloud.volumes.attachments.on_server_deleted(server_id)
        for image_id in filter(None, doomed):
            c.snapshots._delete(image_id)


class InstanceInvalidState(exc.Conflict):
    def __init__(self, row: Instance, action: str):
        super().__init__(f"Cannot '{action}' instance {row.id} while it is in "
                         f"vm_state {row.vm_state}" if not row.task_state else
                         f"Cannot '{action}' instance {row.id} while it is in task_state "
                         f"{row.task_state}")
