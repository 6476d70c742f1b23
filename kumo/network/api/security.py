"""Networking API: security (filled by its area)."""
