"""DNS integration's extensions (dns-integration, dns-domain-ports): the attributes
are in the port, network and floating IP definitions (:mod:`kumo.network.dns`)."""
from kumo.network.api.root import register_extension

register_extension("dns-integration", "DNS Integration",
                   "Provides integration with DNS.")
register_extension("dns-domain-ports", "dns_domain for ports",
                   "Allows the DNS domain to be specified for a network port.")
