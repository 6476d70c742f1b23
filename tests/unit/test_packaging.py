"""pyproject.toml declares what the code imports.

Every top-level third-party module imported anywhere under ``kumo/`` (lazy imports
inside functions included) must come from a distribution listed in
``[project].dependencies`` or in a runtime extra (``postgresql``; not ``test``), and
every one the tests import from a distribution declared anywhere (the ``test`` extra
included), so ``pip install '.[test,postgresql]'`` on a fresh machine (``make test``,
``.ci/run``) is enough. Which distribution provides a module is asked of the installed
metadata (:func:`importlib.metadata.packages_distributions`).
"""
from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Extras that only tests or tools use: not enough for a runtime import.
NON_RUNTIME_EXTRAS = {"test"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _norm(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1))


def _declared() -> tuple[set[str], set[str]]:
    """(runtime distributions, every declared distribution), normalized names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_req_name(r) for r in project["dependencies"]}
    every = set(runtime)
    for extra, reqs in project.get("optional-dependencies", {}).items():
        names = {_req_name(r) for r in reqs}
        every |= names
        if extra not in NON_RUNTIME_EXTRAS:
            runtime |= names
    return runtime, every


def _imports(top: pathlib.Path) -> dict[str, set[str]]:
    """``{top-level module: files importing it}`` of absolute imports under ``top``."""
    out: dict[str, set[str]] = {}
    for path in sorted(top.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                out.setdefault(name.split(".")[0], set()).add(
                    str(path.relative_to(ROOT)))
    return out


def _third_party(imports: dict[str, set[str]], local: set[str]) -> dict[str, set[str]]:
    return {m: files for m, files in imports.items()
            if m not in sys.stdlib_module_names and m not in local}


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> list[str]:
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(imports.items()):
        dists = {_norm(d) for d in providers.get(module, [])}
        if not dists:
            missing.append(f"{module} (not installed; imported by {sorted(files)[:3]})")
        elif not dists & declared:
            missing.append(f"{module} from {sorted(dists)} (imported by "
                           f"{sorted(files)[:3]})")
    return missing


def test_every_runtime_import_is_declared():
    runtime, _ = _declared()
    imports = _third_party(_imports(ROOT / "kumo"), {"kumo"})
    assert {"sqlalchemy", "keystoneauth1", "anyio"} <= set(imports)  # the scan works
    assert _undeclared(imports, runtime) == []


def test_every_test_import_is_declared():
    _, every = _declared()
    imports = _third_party(_imports(ROOT / "tests"), {"kumo", "tests", "conftest"})
    assert _undeclared(imports, every) == []


def test_postgresql_is_an_extra_and_uvicorn_is_not_standard():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_req_name(r) for r in project["dependencies"]}
    assert "psycopg" not in runtime
    assert "psycopg" in {_req_name(r) for r in
                         project["optional-dependencies"]["postgresql"]}
    uvicorn = [r for r in project["dependencies"] if _req_name(r) == "uvicorn"]
    assert uvicorn and "[" not in uvicorn[0]
    assert {"uvloop", "httptools"} <= runtime


def test_make_test_installs_the_extras_the_tests_need():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-e '\.\[test,postgresql\]'", makefile)
