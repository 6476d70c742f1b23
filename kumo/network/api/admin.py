"""Networking API: admin (filled by its area)."""
