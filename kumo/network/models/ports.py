"""Networking tables: ports (filled by its area)."""
