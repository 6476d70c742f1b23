"""Networking tables: security (filled by its area)."""
