"""The package's shape: imports point down the layers, and no module reaches into another's
private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "parity"
# Lower layers never import higher ones; a layer may import itself and anything below.
LAYERS = {"data": 0, "core": 0, "layers": 1, "models": 2, "checks": 3, "scenarios": 4,
          "porting": 4, "bench": 5, "calibration": 5, "upgrade": 6,
          "matrix": 6, "suite": 8}
# parity/__init__, __main__, cli, pytest_plugin, pytest_options; the shipped checks (suite) sit
# above them, as they read the plugin's options, and nothing imports the suite
TOP = 7


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        yield name, ast.parse(path.read_text())


def _imports(tree: ast.Module):
    """(imported module, names) for every ``import parity...`` / ``from parity... import``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("parity"):
            for alias in node.names:
                yield node.module, alias.name, alias.asname or alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("parity"):
                    yield alias.name, None, alias.asname or alias.name.split(".")[0]


MODULES = dict(_modules())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    mine = _layer(name)
    upward = []
    for module, imported, _ in _imports(MODULES[name]):
        target = f"{module}.{imported}" if imported and f"{module}.{imported}" in MODULES else module
        if _layer(target) > mine:
            upward.append(target)
    assert not upward, f"{name} (layer {mine}) imports from higher layers: {upward}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_reach_into_private_names(name):
    tree = MODULES[name]
    private, module_aliases = [], set()
    for module, imported, alias in _imports(tree):
        if imported and imported.startswith("_") and not imported.startswith("__"):
            private.append(f"from {module} import {imported}")
        if imported is None or f"{module}.{imported}" in MODULES:
            module_aliases.add(alias)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            private.append(f"{node.value.id}.{node.attr}")
    assert not private, f"{name} uses other modules' private names: {sorted(set(private))}"


def test_the_layering_covers_every_subpackage():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(LAYERS)


def test_every_public_name_documents_itself_with_a_tested_example():
    import inspect

    import parity

    for name in parity.__all__:
        doc = inspect.getdoc(getattr(parity, name)) or ""
        assert ">>>" in doc, f"parity.{name}: no example (doctested with the suite)"
        if inspect.isfunction(getattr(parity, name)):
            missing = [s for s in ("Args:", "Returns:", "Raises:") if s not in doc]
            assert not missing, f"parity.{name}: its docstring lacks {missing}"
