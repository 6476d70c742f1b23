"""DNS integration (Networking API v2.0: extensions dns-integration, dns-domain-ports):
what ``dns_name``/``dns_domain`` may hold and the ``dns_assignment`` of a port (a
server's ports get its hostname as ``dns_name``: ``port_api.create``).

- a port's ``dns_name`` is a hostname: one or more RFC 1123 labels (letters, digits,
  hyphens, 1-63 characters, no leading or trailing hyphen) joined by dots, at most 255
  characters with its domain, and not ending in an all-numeric label (Neutron's
  ``_validate_dns_name``); it is stored lower-case. ``""`` clears it;
- a ``dns_domain`` (ports, networks, floating IPs) is a domain name of such labels,
  optionally ending with a dot;
- ``dns_assignment`` lists, per fixed IP, ``{"hostname", "ip_address", "fqdn"}``:
  the port's ``dns_name`` (else Neutron's ``host-10-0-0-5``) in the network's
  ``dns_domain`` (else :data:`DEFAULT_DOMAIN`). The DHCP agent's dnsmasq serves
  exactly these names (:mod:`kumo.agent.dataplane.dnsmasq`).
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from kumo.common import exceptions as exc
from kumo.network.models import core

#: Neutron's ``[DEFAULT] dns_domain`` default.
DEFAULT_DOMAIN = "openstacklocal."
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
MAX_LEN = 255


def _labels_ok(text: str) -> bool:
    return all(_LABEL.match(label) for label in text.split("."))


def check_name(value):
    """The converter of a port's ``dns_name`` (400 when invalid; ``None`` -> ``""``)."""
    if value is None or value == "":
        return ""
    name = value[:-1] if value.endswith(".") else value
    if (len(value) > MAX_LEN or not name or not _labels_ok(name)
            or name.rsplit(".", 1)[-1].isdigit()):
        raise exc.BadRequest(f"Invalid input for dns_name. Reason: '{value}' not a valid "
                             "PQDN or FQDN. Reason: labels must be 1-63 characters of "
                             "letters, digits and hyphens, not starting or ending with "
                             "a hyphen, and the last one not all numeric.")
    return value.lower()


def check_domain(value):
    """The converter of a ``dns_domain`` (400 when invalid; ``None`` -> ``""``)."""
    if value is None or value == "":
        return ""
    name = value[:-1] if value.endswith(".") else value
    if len(value) > MAX_LEN or not name or not _labels_ok(name):
        raise exc.BadRequest(f"Invalid input for dns_domain. Reason: '{value}' is not a "
                             "FQDN.")
    return value.lower()


def fqdn_domain(domain: str | None) -> str:
    """``example.org`` / ``example.org.`` -> ``example.org.``; empty -> the default."""
    if not domain:
        return DEFAULT_DOMAIN
    return domain if domain.endswith(".") else domain + "."


def hostname_of(ip: str) -> str:
    """Neutron's name of an address without ``dns_name``: ``host-10-0-0-5``."""
    return "host-" + ip.replace(".", "-").replace(":", "-")


def assignment(dns_name: str, fixed_ips: list[dict], domain: str | None) -> list[dict]:
    """A port's ``dns_assignment`` (module doc)."""
    suffix = fqdn_domain(domain)
    out = []
    for fixed in fixed_ips:
        host = (dns_name or "").rstrip(".") or hostname_of(fixed["ip_address"])
        fqdn = dns_name if dns_name.endswith(".") else f"{host}.{suffix}"
        out.append({"hostname": host, "ip_address": fixed["ip_address"], "fqdn": fqdn})
    return out


def domains_of(session, network_ids) -> dict[str, str]:
    """``{network_id: dns_domain}`` of the networks (one query)."""
    ids = sorted(set(network_ids))
    if not ids:
        return {}
    return dict(session.execute(sa.select(core.Network.id, core.Network.dns_domain)
                                .where(core.Network.id.in_(ids))).all())
