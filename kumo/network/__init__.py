"""The Networking service (Neutron v2.0 API)."""
