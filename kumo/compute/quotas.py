"""Compute quotas (Compute API "Quota sets (os-quota-sets)", "Limits") and usage
("Usage reports (os-simple-tenant-usage)").

Limits are rows of ``compute_quota`` where an admin set them, else the
``quota_*`` settings; -1 is unlimited. Usage is counted from the live rows (instances,
cores and RAM of a project's servers, a user's key pairs, a project's server groups), so
it never drifts.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.timeutils import isotime, utcnow
from kumo.compute.models import Instance, KeyPair, Quota, ServerGroup
from kumo.compute.schemas import MAX_INT

#: Resources with limits, in the order the reference lists them.
RESOURCES = ["cores", "instances", "key_pairs", "metadata_items", "ram", "server_groups",
             "server_group_members"]
#: Legacy resources rendered before the microversion that removed them: 2.36 (the
#: network proxies; their values are Neutron's, see :meth:`Quotas.network`) and 2.57
#: (file injection, fixed values: Kumo has no personality files).
LEGACY_2_36 = ("fixed_ips", "floating_ips", "security_group_rules", "security_groups")
#: Nova's proxy resource -> Neutron's quota resource.
NETWORK_PROXIES = {"floating_ips": "floatingip", "security_groups": "security_group",
                   "security_group_rules": "security_group_rule"}
LEGACY_2_57 = {"injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
               "injected_files": 5}
#: ``compute_quota.project_id`` of a quota class's rows (``@default``): no project id
#: starts with "@" (Keystone's are hex).
CLASS_PREFIX = "@"
#: Resources whose new limit may not be below the project's usage (Nova's quota sets).
COUNTED_AGAINST_USAGE = ("instances", "cores", "ram", "server_groups")


def checked_limit(resource: str, value, used: int | None = None) -> int:
    """``value`` (an int, or a string of digits the schemas let through) as a quota
    limit of ``resource``: -1 (unlimited) to ``MAX_INT``, and when ``used`` is given
    (a project's usage) unlimited or at least that, as Nova's
    ``_validate_quota_limit``; 400 with Nova's message otherwise."""
    value = int(value)
    if value > MAX_INT:  # a string past the schema's maximum
        raise exc.BadRequest(f"Quota limit {value} for {resource} must be less than or "
                             f"equal to {MAX_INT}.")
    if value < -1:
        raise exc.BadRequest(f"Quota limit {value} for {resource} must be greater than "
                             "or equal to -1.")
    if used is not None and 0 <= value < used:
        raise exc.BadRequest(f"Quota limit {value} for {resource} must be greater than "
                             f"or equal to already used and reserved {used}.")
    return value


class Quotas:
    def __init__(self, compute):
        self.compute = compute

    def _class_rows(self, session) -> dict[str, int]:
        """The ``default`` quota class's stored values (``os-quota-class-sets``)."""
        return {q.resource: q.hard_limit for q in session.scalars(
            sa.select(Quota).where(Quota.project_id == CLASS_PREFIX + "default"))}

    def default(self, resource: str, session=None, classes: dict | None = None) -> int:
        """The default limit of ``resource``: the ``default`` quota class's value if an
        admin set one (read when a ``session`` is given, or from ``classes``, those
        rows already read), else the ``quota_<resource>`` setting."""
        if classes is None and session is not None:
            classes = self._class_rows(session)
        if classes and resource in classes:
            return classes[resource]
        return int(getattr(self.compute.settings, f"quota_{resource}"))

    def limit(self, session, project_id: str, resource: str) -> int:
        found = session.get(Quota, (project_id or "", resource))
        return found.hard_limit if found is not None else self.default(resource, session)

    def limits(self, session, project_id: str) -> dict[str, int]:
        """Every limit of a project: its rows over the ``default`` class's over the
        settings, read in one query."""
        rows: dict[str, int] = {}
        classes: dict[str, int] = {}
        for q in session.scalars(sa.select(Quota).where(Quota.project_id.in_(
                {project_id or "", CLASS_PREFIX + "default"}))):
            (classes if q.project_id == CLASS_PREFIX + "default" else rows)[
                q.resource] = q.hard_limit
        return {r: rows[r] if r in rows else self.default(r, classes=classes)
                for r in RESOURCES}

    # -- quota classes (os-quota-class-sets) ---------------------------------------------
    def class_values(self, session, name: str) -> dict[str, int]:
        """Every value of quota class ``name`` (Nova's ``get_class_quotas`` with
        defaults): its stored rows over the defaults (the compute resources' settings,
        Neutron's defaults for the network proxies, Nova's fixed file injection
        values). Only the ``default`` class's compute resources change anything (the
        defaults of every project), as in Nova."""
        settings = self.compute.settings
        out = {r: int(getattr(settings, f"quota_{r}")) for r in RESOURCES}
        out.update({"fixed_ips": -1, **LEGACY_2_57})
        out.update({nova: int(getattr(settings, f"quota_{q}"))
                    for nova, q in NETWORK_PROXIES.items()
                    if hasattr(settings, f"quota_{q}")})
        out.update({q.resource: q.hard_limit for q in session.scalars(
            sa.select(Quota).where(Quota.project_id == CLASS_PREFIX + name))})
        return out

    def update_class(self, name: str, values: dict) -> dict[str, int]:
        """Set quota class ``name``'s ``values`` (each checked by :func:`checked_limit`);
        returns :meth:`class_values`."""
        if not 1 <= len(name) <= 255 - len(CLASS_PREFIX):
            raise exc.BadRequest("quota_class_name has a length outside 1 and "
                                 f"{255 - len(CLASS_PREFIX)} characters.")
        with self.compute.db.session() as s:
            for resource, value in values.items():
                value = checked_limit(resource, value)
                found = s.get(Quota, (CLASS_PREFIX + name, resource))
                if found is None:
                    s.add(Quota(project_id=CLASS_PREFIX + name, resource=resource,
                                hard_limit=value))
                else:
                    found.hard_limit = value
            s.flush()
            return self.class_values(s, name)

    def network(self, session, project_id: str, usage: bool = True
                ) -> tuple[dict[str, int], dict[str, int]]:
        """``(limits, usage)`` of the legacy network resources (``floating_ips``,
        ``security_groups``, ``security_group_rules``, and ``fixed_ips``, unlimited)
        from Neutron's quotas and the project's rows, so Nova's proxies before 2.36
        (``os-quota-sets``, ``GET /limits``) agree with ``openstack quota show``.
        ``usage`` false: the usage is not counted (``{}``)."""
        quotas = self.compute.networking.quotas
        net_limits = quotas.limits(session, project_id)
        limits = {"fixed_ips": -1}
        used = {"fixed_ips": 0} if usage else {}
        for nova, neutron in NETWORK_PROXIES.items():
            limits[nova] = int(net_limits[neutron])
            if usage:
                used[nova] = quotas.used(session, project_id, neutron)
        return limits, used

    def usage(self, session, project_id: str, user_id: str | None = None) -> dict[str, int]:
        I = Instance
        n, cores, ram = session.execute(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(I.vcpus), 0),
            sa.func.coalesce(sa.func.sum(I.memory_mb), 0)).where(
            I.project_id == project_id, I.deleted.is_(False))).one()
        groups = session.scalar(sa.select(sa.func.count()).select_from(ServerGroup).where(
            ServerGroup.project_id == project_id)) or 0
        keys = 0
        if user_id:
            keys = session.scalar(sa.select(sa.func.count()).select_from(KeyPair).where(
                KeyPair.user_id == user_id)) or 0
        return {"instances": n, "cores": int(cores), "ram": int(ram), "key_pairs": keys,
                "server_groups": groups, "metadata_items": 0, "server_group_members": 0}

    def check_servers(self, session, project_id: str, count: int, vcpus: int,
                      ram: int, min_count: int = 1) -> int:
        """How many of ``count`` servers (at least ``min_count``) fit the instances,
        cores and ram quotas; 403 with the reference's message when not even
        ``min_count`` fit."""
        limits = self.limits(session, project_id)
        used = self.usage(session, project_id)
        per = {"instances": 1, "cores": vcpus, "ram": ram}
        fit = count
        for resource, each in per.items():
            if limits[resource] < 0 or each == 0:
                continue
            fit = min(fit, (limits[resource] - used[resource]) // each)
        if fit < min_count:
            overs = [r for r in ("cores", "instances", "ram") if limits[r] >= 0
                     and used[r] + per[r] * min_count > limits[r]]
            raise exc.Forbidden(
                "Quota exceeded for %s: Requested %s, but already used %s of %s %s" % (
                    ", ".join(overs), ", ".join(str(per[r] * min_count) for r in overs),
                    ", ".join(str(used[r]) for r in overs),
                    ", ".join(str(limits[r]) for r in overs), ", ".join(overs)))
        return fit

    def check_metadata(self, session, project_id: str, metadata: dict) -> None:
        limit = self.limit(session, project_id, "metadata_items")
        if 0 <= limit < len(metadata):
            raise exc.Forbidden("Quota exceeded for metadata_items: Requested "
                                f"{len(metadata)}, but already used 0 of {limit} "
                                "metadata_items")

    @staticmethod
    def _project(project_id: str) -> None:
        """400 for a project id naming a quota class's rows (they are ``@<class>``
        and are changed only through ``os-quota-class-sets``)."""
        if project_id.startswith(CLASS_PREFIX):
            raise exc.BadRequest(f"Project ID {project_id} is not a valid project.")

    def update(self, project_id: str, values: dict) -> dict[str, int]:
        self._project(project_id)
        with self.compute.db.session() as s:
            used = self.usage(s, project_id)
            for resource, value in values.items():
                if resource not in RESOURCES:
                    continue
                value = checked_limit(resource, value, used[resource]
                                      if resource in COUNTED_AGAINST_USAGE else None)
                found = s.get(Quota, (project_id, resource))
                if found is None:
                    s.add(Quota(project_id=project_id, resource=resource, hard_limit=value))
                else:
                    found.hard_limit = value
            s.flush()
            return self.limits(s, project_id)

    def reset(self, project_id: str) -> None:
        self._project(project_id)
        with self.compute.db.session() as s:
            s.execute(sa.delete(Quota).where(Quota.project_id == project_id))

    # -- usage reports -------------------------------------------------------------------
    def tenant_usage(self, start: dt.datetime, end: dt.datetime,
                     project_id: str | None = None, detailed: bool = False) -> list[dict]:
        """os-simple-tenant-usage: per project, the vCPU/RAM/disk hours of servers that
        ran within [start, end]."""
        return self.tenant_usage_page(start, end, project_id, detailed)[0]

    def tenant_usage_page(self, start: dt.datetime, end: dt.datetime,
                          project_id: str | None = None, detailed: bool = False,
                          limit: str | None = None, marker: str | None = None
                          ) -> tuple[list[dict], str | None]:
        """:meth:`tenant_usage` over one page of the servers (2.40: ``limit``, the raw
        parameter, and ``marker``, the last server id of the previous page; see
        :meth:`kumo.compute.listing.Lists.usage_servers`); returns ``(usages, next
        marker or None)``."""
        rows, more = self.compute.lists.usage_servers(start, end, project_id, limit,
                                                      marker)
        now = utcnow()
        out: dict[str, dict] = {}
        for r in rows:
            began = max(r.launched_at or r.created_at, start)
            ended = min(r.terminated_at or now, end)
            hours = max((ended - began).total_seconds(), 0) / 3600.0
            u = out.setdefault(r.project_id, {
                "tenant_id": r.project_id, "total_local_gb_usage": 0.0,
                "total_vcpus_usage": 0.0, "total_memory_mb_usage": 0.0,
                "total_hours": 0.0, "start": isotime(start), "stop": isotime(end)})
            u["total_local_gb_usage"] += r.root_gb * hours
            u["total_vcpus_usage"] += r.vcpus * hours
            u["total_memory_mb_usage"] += r.memory_mb * hours
            u["total_hours"] += hours
            if detailed:
                u.setdefault("server_usages", []).append({
                    "instance_id": r.id, "name": r.display_name, "hours": hours,
                    "memory_mb": r.memory_mb, "local_gb": r.root_gb, "vcpus": r.vcpus,
                    "tenant_id": r.project_id, "flavor": (r.flavor or {}).get("name"),
                    "started_at": isotime(r.launched_at or r.created_at),
                    "ended_at": isotime(r.terminated_at),
                    "state": "terminated" if r.deleted else r.vm_state,
                    "uptime": int((ended - began).total_seconds())})
        return list(out.values()), (rows[-1].id if rows and more else None)
