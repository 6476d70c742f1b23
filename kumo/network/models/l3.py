"""Networking tables: l3 (filled by its area)."""
