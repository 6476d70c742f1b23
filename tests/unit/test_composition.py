"""Composition is explicit: no module under kumo/ finds a cross-part hook by name with
``getattr``, no registry of networking parts is filled by importing modules, and
compute does not touch networking's tables.

The scan is narrow on purpose. It flags a ``getattr`` call that
- names a hook with a string literal (``on_*``, ``check_*``, ``snapshot``,
  ``*_hook``, or one of the hooks this replaced), or
- has a default and looks on a networking part (``part``/``parts`` in its first
  argument): "call it if that part happens to have it".
Plain attribute access by a computed name (settings knobs, row columns) is not a hook.
"""
from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2] / "kumo"
REPLACED = {"on_network_delete", "on_port_delete", "check_port_delete", "snapshot",
            "foreign_ports_on", "default_group_id", "ids_by_network"}
HOOKISH = re.compile(r"^(on_|check_)|_hook$")


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def hook_lookups(tree: ast.AST, source: str) -> list[str]:
    """The ``getattr`` calls in ``tree`` that find a hook by name (module doc)."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "getattr" and len(node.args) >= 2):
            continue
        target, name = node.args[0], node.args[1]
        literal = name.value if isinstance(name, ast.Constant) and isinstance(
            name.value, str) else None
        on_part = re.search(r"\bparts?\b", ast.get_source_segment(source, target) or "")
        if (literal is not None and (literal in REPLACED or HOOKISH.search(literal))) \
                or (len(node.args) == 3 and on_part):
            found.append(f"line {node.lineno}: {ast.get_source_segment(source, node)}")
    return found


def test_the_scan_catches_what_it_is_for():
    samples = {
        'hook = getattr(part, "on_network_delete", None)': 1,
        'snap = getattr(part, "snapshot", None)': 1,
        'getattr(self.net.parts.get("ports"), "anything", None)': 1,
        'getattr(obj, "before_hook")': 1,
        'int(getattr(self.settings, f"quota_{r}"))': 0,
        'getattr(row, "id", None)': 0,
        'getattr(networking.parts[name], visible)': 0,
    }
    for code, count in samples.items():
        assert len(hook_lookups(ast.parse(code), code)) == count, code


def test_no_module_finds_a_hook_by_name():
    offenders = []
    for path, tree in _modules():
        offenders += [f"{path.relative_to(ROOT.parent)} {hit}"
                      for hit in hook_lookups(tree, path.read_text())]
    assert offenders == []


def test_no_import_time_part_registry_and_no_optional_tables():
    for path, _ in _modules():
        text = path.read_text()
        assert "register_part" not in text, path
        assert "optional_table" not in text, path


def test_compute_does_not_import_networking_tables():
    for path, tree in _modules():
        if ROOT / "compute" not in path.parents:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("kumo.network.models"), path
                if node.module == "kumo.network":
                    assert {a.name for a in node.names} <= {"port_api"}, path
