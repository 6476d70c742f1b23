"""Cinder's list filters that are not paging (Block Storage API v3 "List volumes"):
``metadata``/``glance_metadata`` as a JSON object (or a Python dict literal, as
cinderclient sends it); a bad one is Cinder's 400. Paging and sorting are the list
engine's Cinder dialect (:data:`kumo.common.listing.CINDER`)."""
from __future__ import annotations

import ast
import json

from kumo.volume.errors import InvalidInput


def parse_dict(text: str, name: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
    if not isinstance(value, dict):
        raise InvalidInput(f"Invalid input received: {name} must be a dictionary, got "
                           f"{text!r}.")
    return {str(k): str(v) for k, v in value.items()}

