"""Networking API: ports (filled by its area)."""
