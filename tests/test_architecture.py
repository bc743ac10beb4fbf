"""The drawing of the house, enforced: which package may import which, and no name clashes.

Why: the layers are what lets a newcomer change one thing without reading everything. The
domain (`market`) is the ground floor and imports none of ours; connectors build on it;
the warehouse and the cost model above; pipelines (Dagster) and the CLI at the top; the
dashboard beside them, never importing Dagster or the pipelines. Our top-level package names
are generic (`market`, `cli`, `warehouse`, ...), so a test also checks that no installed
dependency ships a module of the same name, in either direction. See docs/architecture.md.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("market", "connectors", "warehouse", "costmodel", "pipelines", "cli", "dashboards", "snapshots")

# package -> the packages of ours it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "market": set(),
    "snapshots": set(),
    "connectors": {"market"},
    "costmodel": {"market"},
    "warehouse": {"market", "connectors", "costmodel"},  # derived tables use the cost formulas
    "pipelines": {"market", "connectors", "warehouse", "costmodel"},
    "dashboards": {"market", "warehouse", "costmodel"},
    "cli": {"market", "connectors", "warehouse", "costmodel", "pipelines", "snapshots"},
}
THIRD_PARTY_FORBIDDEN = {"dashboards": {"dagster"}, "market": {"dagster", "duckdb", "streamlit", "httpx"},
                         "costmodel": {"dagster", "duckdb", "streamlit", "httpx"}}


def imports_of(package: str) -> list[tuple[str, str]]:
    """(file, imported top-level name) for every import statement in a package."""
    found = []
    for file in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            found += [(str(file.relative_to(ROOT)), name.split(".")[0]) for name in names]
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_floors_below_it(package):
    ours = set(PACKAGES)
    wrong = [(f, name) for f, name in imports_of(package)
             if name in ours and name != package and name not in ALLOWED[package]]
    assert not wrong, f"{package} may import {sorted(ALLOWED[package])} of ours, not: {wrong}"
    banned = [(f, name) for f, name in imports_of(package) if name in THIRD_PARTY_FORBIDDEN.get(package, set())]
    assert not banned, f"{package} must not import {sorted(THIRD_PARTY_FORBIDDEN[package])}: {banned}"


def test_the_allowed_imports_have_no_cycle():
    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in ALLOWED[start])

    assert not [p for p in PACKAGES if reaches(p, p)]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_dependency_ships_a_module_of_our_names(package):
    providers = importlib.metadata.packages_distributions().get(package, [])
    assert set(providers) <= {"gpu-prices", "gpu_prices"}, f"{package!r} is also provided by {providers}"
    module = importlib.import_module(package)
    assert Path(module.__file__).resolve().is_relative_to(ROOT), f"{package} resolves to {module.__file__}"


# A connector longer than this is doing more than fetch + parse of one source (issue 11/12:
# connectors/aws.py had grown to 818 lines, its own GPU table included). Modules already over
# it are listed with their length when the rule came in, so the list can only shrink.
MAX_CONNECTOR_LINES = 400
CONNECTORS_OVER_THE_LIMIT: dict[str, int] = {}


def test_no_connector_module_is_longer_than_the_limit():
    lengths = {str(f.relative_to(ROOT)): len(f.read_text().splitlines())
               for f in sorted((ROOT / "connectors").rglob("*.py"))}
    offenders = {f: n for f, n in lengths.items()
                 if n > max(MAX_CONNECTOR_LINES, CONNECTORS_OVER_THE_LIMIT.get(f, 0))}
    assert not offenders, (
        f"connector modules longer than {MAX_CONNECTOR_LINES} lines (split them; an allowlisted "
        f"module may only shrink): {offenders}"
    )
    grown_or_gone = {f: n for f, n in CONNECTORS_OVER_THE_LIMIT.items() if lengths.get(f, 0) < n}
    assert not grown_or_gone, f"shrunk or removed: lower or drop their allowlist entries {grown_or_gone}"
