"""Metering (Networking API v2.0 "Metering labels and rules", extensions ``metering``
and ``metering_source_and_destination_fields``): labels name traffic a router counts,
label rules say which (``direction`` ingress = entering the router from its external
gateway, egress = leaving by it; ``remote_ip_prefix``, the external side, or
``source_ip_prefix``/``destination_ip_prefix``; ``excluded`` rules subtract).

A label applies to every router of its project; a ``shared`` label to every router.
Admin-only (Neutron's policy). Neutron exposes no counter in the API (its metering
agent sends them as notifications): Kumo's L3 agent keeps them as named nftables
counters in the router's namespace (:mod:`kumo.agent.fwaas`), which the operator reads
with ``ip netns exec qrouter-<id> nft list counters table inet kumo_metering``.

The data plane's view (:meth:`Metering.decorate`): each router item of the feed gets
``metering_labels``: ``[{"id", "rules": [{"id", "direction", "excluded",
"source_ip_prefix", "destination_ip_prefix"}]}]`` (``remote_ip_prefix`` turned into the
source for ingress, the destination for egress).
"""
from __future__ import annotations

import ipaddress

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.common.context import RequestContext
from kumo.network.manager import new_id, stamp, touch, visible_clause
from kumo.network.models import fwaas as models
from kumo.network.models import l3 as l3models

LABEL, RULE = models.MeteringLabel, models.MeteringLabelRule
R = l3models.Router


class MeteringLabelNotFound(exc.NotFound):
    message = "Metering label %(label_id)s does not exist."


class MeteringLabelRuleNotFound(exc.NotFound):
    message = "Metering label rule %(rule_id)s does not exist."


class MeteringLabelRuleOverlaps(exc.Conflict):
    message = ("Metering label rule with remote_ip_prefix %(remote_ip_prefix)s "
               "overlaps another.")


def _prefix(name: str, value):
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except (ValueError, TypeError):
        raise exc.BadRequest(f"Invalid input for {name}. Reason: '{value}' is not a "
                             "valid IP subnet.") from None


def rule_item(r) -> dict:
    """The data plane's view of one rule (see the module doc)."""
    src, dst = r.source_ip_prefix, r.destination_ip_prefix
    if r.remote_ip_prefix:
        if r.direction == "ingress":
            src = r.remote_ip_prefix
        else:
            dst = r.remote_ip_prefix
    return {"id": r.id, "direction": r.direction, "excluded": bool(r.excluded),
            "source_ip_prefix": src, "destination_ip_prefix": dst}


class MeteringLabels:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return visible_clause(LABEL, ctx, LABEL.shared.is_(True))

    def get(self, session, ctx: RequestContext, label_id: str):
        row = session.scalar(sa.select(LABEL).where(LABEL.id == label_id,
                                                    self.visible(ctx)))
        if row is None:
            raise MeteringLabelNotFound(label_id=label_id)
        return row

    def create(self, session, ctx: RequestContext, attrs: dict):
        row = LABEL(project_id=attrs.get("project_id") or attrs.get("tenant_id")
                    or ctx.project_id or "", name=attrs.get("name") or "",
                    description=attrs.get("description") or "",
                    shared=bool(attrs.get("shared")))
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
        had_rules = session.scalar(sa.select(RULE.id).where(
            RULE.metering_label_id == row.id).limit(1)) is not None
        if had_rules:
            self.announce(session, row)
        session.delete(row)

    def announce(self, session, label) -> None:
        """A feed change for each router the label applies to."""
        stmt = sa.select(R.id)
        if not label.shared:
            stmt = stmt.where(R.project_id == label.project_id)
        for router_id in session.scalars(stmt.order_by(R.id)):
            self.net.changed(session, "router", router_id)

    # -- data plane ------------------------------------------------------------------
    def decorate(self, session, routers: list[dict]) -> None:
        """Add ``metering_labels`` to each router item (see the module doc)."""
        for r in routers:
            r["metering_labels"] = []
        if not routers:
            return
        projects = sorted({r["project_id"] for r in routers})
        labels = list(session.scalars(sa.select(LABEL).where(sa.or_(
            LABEL.shared.is_(True), LABEL.project_id.in_(projects))).order_by(LABEL.id)))
        if not labels:
            return
        rules: dict[str, list[dict]] = {lb.id: [] for lb in labels}
        for rule in session.scalars(sa.select(RULE).where(
                RULE.metering_label_id.in_(list(rules))).order_by(RULE.id)):
            rules[rule.metering_label_id].append(rule_item(rule))
        for r in routers:
            r["metering_labels"] = [{"id": lb.id, "rules": rules[lb.id]} for lb in labels
                                    if lb.shared or lb.project_id == r["project_id"]]


class MeteringLabelRules:
    def __init__(self, networking):
        self.net = networking

    def visible(self, ctx: RequestContext):
        return RULE.metering_label_id.in_(sa.select(LABEL.id).where(
            self.net.metering_labels.visible(ctx)))

    def get(self, session, ctx: RequestContext, rule_id: str):
        row = session.scalar(sa.select(RULE).where(RULE.id == rule_id, self.visible(ctx)))
        if row is None:
            raise MeteringLabelRuleNotFound(rule_id=rule_id)
        return row

    def create(self, session, ctx: RequestContext, attrs: dict):
        label = self.net.metering_labels.get(session, ctx, attrs["metering_label_id"])
        remote = _prefix("remote_ip_prefix", attrs.get("remote_ip_prefix"))
        src = _prefix("source_ip_prefix", attrs.get("source_ip_prefix"))
        dst = _prefix("destination_ip_prefix", attrs.get("destination_ip_prefix"))
        if remote and (src or dst):
            raise exc.BadRequest("Cannot use 'remote-ip-prefix' in conjunction with "
                                 "'source-ip-prefix' or 'destination-ip-prefix'.")
        if not (remote or src or dst):
            raise exc.BadRequest("You must define at least one of the following "
                                 "parameters 'remote_ip_prefix', or 'source_ip_prefix' "
                                 "or 'destination_ip_prefix'.")
        versions = {ipaddress.ip_network(p).version for p in (remote, src, dst) if p}
        if len(versions) > 1:
            raise exc.BadRequest("Source and destination prefixes must be of the same "
                                 "IP version.")
        excluded = bool(attrs.get("excluded"))
        same = session.scalar(sa.select(RULE.id).where(
            RULE.metering_label_id == label.id, RULE.direction == attrs["direction"],
            RULE.excluded.is_(excluded), _is(RULE.remote_ip_prefix, remote),
            _is(RULE.source_ip_prefix, src), _is(RULE.destination_ip_prefix, dst)))
        if same is not None:
            raise MeteringLabelRuleOverlaps(remote_ip_prefix=remote or src or dst)
        row = RULE(id=new_id(), project_id=label.project_id, metering_label_id=label.id,
                   direction=attrs["direction"], excluded=excluded,
                   remote_ip_prefix=remote, source_ip_prefix=src,
                   destination_ip_prefix=dst)
        session.add(row)
        session.flush()
        self.net.metering_labels.announce(session, label)
        return row

    def update(self, session, ctx: RequestContext, row, attrs: dict) -> None:
        raise exc.BadRequest("Metering label rules cannot be updated.")

    def delete(self, session, ctx: RequestContext, row) -> None:
        label = session.get(LABEL, row.metering_label_id)
        session.delete(row)
        if label is not None:
            self.net.metering_labels.announce(session, label)


def _is(column, value):
    return column.is_(None) if value is None else column == value
