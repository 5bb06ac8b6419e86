"""hmf_core's public surface (hmf_core.PUBLIC): every name resolves, each is listed once, and the
dashboard reaches hmf_core only through it; hmf_core never imports streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import hmf_core

REPO = Path(__file__).resolve().parents[1]


def _imports(folder: Path):
    """(file, line, imported module) of every import statement under `folder`, at any depth
    (also those inside functions); `from hmf_core import x` gives "hmf_core"."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.lineno, node.module


def test_every_public_name_resolves_to_what_its_module_defines():
    assert hmf_core.__all__ == list(hmf_core.PUBLIC)
    for name, where in hmf_core.PUBLIC.items():
        module, _, attribute = where.partition(":")
        defined = getattr(__import__(f"hmf_core.{module}", fromlist=["_"]), attribute or name)
        assert getattr(hmf_core, name) is defined, name


def test_each_public_name_is_listed_once_and_none_hides_a_subpackage():
    tree = ast.parse((REPO / "hmf_core" / "__init__.py").read_text(encoding="utf-8"))
    table = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "PUBLIC"
    )
    keys = [key.value for key in table.keys]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    package = REPO / "hmf_core"  # runs/ and data/ are namespace packages: no __init__.py
    modules = {path.stem for path in package.glob("*.py")} | {
        path.name for path in package.iterdir() if path.is_dir() and any(path.glob("*.py"))
    }
    assert "runs" in modules and "training" in modules
    assert not modules & set(keys)  # hmf_core.runs must stay the package


def test_an_unknown_name_is_a_clear_attribute_error():
    try:
        hmf_core.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no attribute 'no_such_thing'" in str(error)
    else:
        raise AssertionError("hmf_core.no_such_thing resolved")


def test_the_dashboard_imports_hmf_core_only_through_its_public_surface():
    deep = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path, line, module in _imports(REPO / "dashboard")
        if module.startswith("hmf_core.")
    ]
    assert deep == []
    reached = {module for _, _, module in _imports(REPO / "dashboard")}
    assert "hmf_core" in reached  # the walk sees the dashboard's imports at all


def test_the_dashboard_uses_only_public_names():
    used = set()
    for path in sorted((REPO / "dashboard").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "hmf_core":
                used |= {alias.name for alias in node.names}
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "hmf_core"
            ):
                used.add(node.attr)
    assert used and used <= set(hmf_core.__all__), sorted(used - set(hmf_core.__all__))


def test_hmf_core_never_imports_streamlit():
    found = [
        f"{path.relative_to(REPO)}:{line}"
        for path, line, module in _imports(REPO / "hmf_core")
        if module.split(".")[0] == "streamlit"
    ]
    assert found == []
