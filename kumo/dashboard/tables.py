"""Builders for the generic list page (``table.html``): tables of cells with row
actions, and create forms, so a list view is a few lines of Python."""
from __future__ import annotations


def cell(text, href: str | None = None, badge: bool = False) -> dict:
    return {"text": "" if text is None else str(text), "href": href, "badge": badge}


def action(label: str, post_url: str, danger: bool = False, **fields) -> dict:
    """A row button: a POST form (with the CSRF token) to ``post_url``."""
    return {"label": label, "url": post_url, "danger": danger, "fields": fields}


def link(label: str, href: str) -> dict:
    return {"label": label, "href": href}


def table(title: str, columns: list[str], rows: list[dict], empty: str = "Nothing yet.",
          table_id: str | None = None) -> dict:
    return {"title": title, "columns": columns, "rows": rows, "empty": empty,
            "id": table_id}


def row(cells: list, actions: list | None = None, row_id: str | None = None) -> dict:
    return {"cells": [c if isinstance(c, dict) else cell(c) for c in cells],
            "actions": actions or [], "id": row_id}


def field(name: str, label: str, type: str = "text", value="", options=None,
          required: bool = False, multiple: bool = False, placeholder: str = "") -> dict:
    return {"name": name, "label": label, "type": type, "value": value,
            "options": options or [], "required": required, "multiple": multiple,
            "placeholder": placeholder}


def form(title: str, post_url: str, fields: list[dict], submit: str = "Create",
         form_id: str | None = None) -> dict:
    return {"title": title, "url": post_url, "fields": fields, "submit": submit,
            "id": form_id}
