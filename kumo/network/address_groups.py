"""Address groups (Networking API v2.0: "Address groups"): named sets of CIDRs owned by
a project, changed with ``add_addresses``/``remove_addresses``.

Security group rules name one with ``remote_address_group_id`` (the
``security-groups-remote-address-group`` extension); the firewall driver makes each
such group an nftables set (``ag-<id>-v4``/``-v6``). Changing a group's addresses is
a ``security_group`` change of every group with such a rule (their hosts update the
set's elements); a group in use by a rule cannot be deleted (409 AddressGroupInUse).
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.manager import stamp, touch, visible_clause
from kumo.network.models import misc as models
from kumo.network.security import address_group_users

AG = models.AddressGroup


class AddressGroupNotFound(exc.NotFound):
    message = "Address group %(address_group_id)s could not be found."


class AddressesNotFound(exc.BadRequest):
    message = "Addresses %(addresses)s not found in the address group %(address_group_id)s."


class AddressGroupInUse(exc.Conflict):
    message = ("Address group %(address_group_id)s is in use on one or more security "
               "group rules.")


class AddressesAlreadyExist(exc.BadRequest):
    message = ("Addresses %(addresses)s already exist in the address group "
               "%(address_group_id)s.")


def normalize(addresses: list[str]) -> list[str]:
    """CIDRs (or addresses, made /32 or /128) with host bits cleared; 400 otherwise."""
    out = []
    for a in addresses:
        try:
            out.append(str(ipaddress.ip_network(a, strict=False)))
        except (ValueError, TypeError):
            raise exc.BadRequest(f"Invalid input for addresses. Reason: '{a}' is not a "
                                 "valid IP subnet.") from None
    return out


class AddressGroups:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(AG, ctx)

    def get(self, session, ctx: RequestContext, group_id: str) -> models.AddressGroup:
        row = session.scalar(sa.select(AG).where(AG.id == group_id, self.visible(ctx)))
        if row is None:
            raise AddressGroupNotFound(address_group_id=group_id)
        return row

    def create(self, session, ctx: RequestContext, attrs: dict) -> models.AddressGroup:
        row = AG(project_id=attrs.get("project_id") or attrs.get("tenant_id")
                 or ctx.project_id or "",
                 name=attrs.get("name") or "", description=attrs.get("description") or "",
                 addresses=sorted(set(normalize(attrs.get("addresses") or []))))
        stamp(row)
        session.add(row)
        session.flush()
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        for key in ("name", "description"):
            if key in attrs:
                setattr(row, key, attrs[key] or "")
        touch(row)

    def delete(self, session, ctx: RequestContext, row) -> None:
        """409 AddressGroupInUse while a security group rule names it."""
        if address_group_users(session, row.id):
            raise AddressGroupInUse(address_group_id=row.id)
        session.delete(row)

    def _changed(self, session, row) -> None:
        """The security groups whose rules name ``row`` changed for the data plane."""
        for group_id in address_group_users(session, row.id):
            self.net.changed(session, "security_group", group_id)

    def add_addresses(self, session, row, addresses: list[str]) -> None:
        """400 AddressesAlreadyExist if any is there already (nothing is added)."""
        new = normalize(addresses)
        present = sorted(set(new) & set(row.addresses or []))
        if present:
            raise AddressesAlreadyExist(addresses=present, address_group_id=row.id)
        row.addresses = sorted(set(row.addresses or []) | set(new))
        touch(row)
        self._changed(session, row)

    def remove_addresses(self, session, row, addresses: list[str]) -> None:
        """400 AddressesNotFound if any is absent (nothing is removed)."""
        gone = normalize(addresses)
        absent = sorted(set(gone) - set(row.addresses or []))
        if absent:
            raise AddressesNotFound(addresses=absent, address_group_id=row.id)
        row.addresses = sorted(set(row.addresses or []) - set(gone))
        touch(row)
        self._changed(session, row)
