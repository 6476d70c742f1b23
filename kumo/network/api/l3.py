"""Networking API: l3 (filled by its area)."""
