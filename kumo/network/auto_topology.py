"""Auto-allocated topology, "get me a network" (Networking API v2.0: "Auto Allocated
Topology"; extension auto-allocated-topology).

``networking.auto_topology`` (every call inside
:meth:`kumo.network.manager.Networking.write`, except :meth:`check`'s read):

- :meth:`AutoTopology.get` ``(session, ctx, project_id)``: the project's topology,
  built on first use: a network ``auto_allocated_network``, a subnet per IP version
  from the default subnet pool of that version (``auto_allocated_subnet_v4``/``_v6``),
  a router ``auto_allocated_router`` with its gateway on the default external network
  and an interface on each subnet, all owned by the project and made in the caller's
  one transaction (a failure leaves nothing). Idempotent: later calls return the same
  network. Returns ``{"id": network_id, "tenant_id", "project_id"}``.
- :meth:`AutoTopology.check` ``(session, ctx, project_id)``: the dry run
  (``?fields=dry-run``): ``{"id": "dry-run=pass", ...}`` or the error the build would
  give.
- :meth:`AutoTopology.delete`: the router (interfaces, gateway), then the network.
- :meth:`AutoTopology.check_default_network` ``(session, network_id, is_default,
  external)``: the networks area asks it when ``is_default`` is set: 400 on a
  network that is not external, 409 ``DefaultExternalNetworkExists`` while another
  default external network exists.

Errors as Neutron's: 409 ``AutoAllocationFailure`` ("Deployment error: No default
router:external network" / "No default subnetpools defined"), 403 for another project
unless admin, 404 ``NotFound`` for deleting a topology that does not exist.
"""
from __future__ import annotations

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.models import core, fwd

N, T = core.Network, fwd.AutoAllocatedTopology
NETWORK_NAME = "auto_allocated_network"
ROUTER_NAME = "auto_allocated_router"


class AutoAllocationFailure(exc.Conflict):
    message = "Deployment error: %(reason)s."


class DefaultExternalNetworkExists(exc.Conflict):
    message = "Default external network %(net_id)s already exists"


class AutoTopology:
    """See the module doc."""

    def __init__(self, networking):
        self.net = networking

    @staticmethod
    def _project(ctx: RequestContext, project_id: str) -> str:
        if project_id != ctx.project_id and not ctx.is_admin:
            raise exc.Forbidden("The request you have made requires authentication.")
        return project_id

    def default_external_network(self, session) -> str:
        found = session.scalar(sa.select(N.id).where(N.external.is_(True),
                                                     N.is_default.is_(True))
                               .order_by(N.created_at).limit(1))
        if found is None:
            raise AutoAllocationFailure(reason="No default router:external network")
        return found

    def default_pools(self, session) -> list:
        pools = [p for p in (self.net.subnetpools.default_pool(session, v) for v in (4, 6))
                 if p is not None]
        if not pools:
            raise AutoAllocationFailure(reason="No default subnetpools defined")
        return pools

    def check(self, session, ctx: RequestContext, project_id: str) -> dict:
        project_id = self._project(ctx, project_id)
        self.default_external_network(session)
        self.default_pools(session)
        return {"id": "dry-run=pass", "tenant_id": project_id, "project_id": project_id}

    def existing(self, session, project_id: str) -> str | None:
        """The network id of ``project_id``'s topology, or None."""
        return session.scalar(sa.select(T.network_id).where(T.project_id == project_id))

    def get(self, session, ctx: RequestContext, project_id: str) -> dict:
        project_id = self._project(ctx, project_id)
        network_id = self.existing(session, project_id) or self._build(session, project_id)
        return {"id": network_id, "tenant_id": project_id, "project_id": project_id}

    def _build(self, session, project_id: str) -> str:
        import dataclasses

        from kumo.network.port_api import SERVICE

        # networking acting for the project: it sees the default pools and networks
        SERVICE = dataclasses.replace(SERVICE, project_id=project_id)  # noqa: N806
        external = self.default_external_network(session)
        pools = self.default_pools(session)
        network = self.net.networks.create(session, SERVICE, {
            "name": NETWORK_NAME, "project_id": project_id, "admin_state_up": True,
            "shared": False})
        subnets = [self.net.subnets.create(session, SERVICE, network, {
            "name": f"auto_allocated_subnet_v{p.ip_version}", "network_id": network.id,
            "ip_version": p.ip_version, "subnetpool_id": p.id, "project_id": project_id,
            **({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}
               if p.ip_version == 6 else {})}) for p in pools]
        router = self.net.routers.create(session, SERVICE, {
            "name": ROUTER_NAME, "project_id": project_id, "admin_state_up": True,
            "external_gateway_info": {"network_id": external}})
        for subnet in subnets:
            self.net.routers.add_interface(session, SERVICE, router,
                                           {"subnet_id": subnet.id})
        session.add(T(project_id=project_id, network_id=network.id, router_id=router.id))
        session.flush()
        return network.id

    def delete(self, session, ctx: RequestContext, project_id: str) -> None:
        from kumo.network.port_api import SERVICE

        project_id = self._project(ctx, project_id)
        row = session.get(T, project_id)
        if row is None:
            raise exc.NotFound(f"Auto allocated topology for project {project_id} "
                               "could not be found.")
        network_id, router_id = row.network_id, row.router_id
        session.delete(row)
        session.flush()
        if router_id:
            router = self.net.routers.get(session, SERVICE, router_id)
            for port in self.net.routers.interface_ports(session, [router.id])[router.id]:
                self.net.routers.remove_interface(session, SERVICE, router,
                                                  {"port_id": port.id})
            self.net.routers.delete(session, SERVICE, router)
        network = self.net.networks.get(session, SERVICE, network_id)
        self.net.networks.delete(session, SERVICE, network)

    def check_default_network(self, session, network_id: str | None, is_default: bool,
                              external: bool) -> None:
        if not is_default:
            return
        if not external:
            raise exc.BadRequest("Invalid input for operation: Unable to make a network "
                                 "that is not external the default one.")
        other = session.scalar(sa.select(N.id).where(
            N.is_default.is_(True), N.external.is_(True),
            N.id != (network_id or "")).limit(1))
        if other is not None:
            raise DefaultExternalNetworkExists(net_id=other)
