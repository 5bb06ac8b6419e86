"""The import direction of hmf_core (pyproject.toml's [tool.importlinter] contracts, checked by
import-linter's `lint-imports`): each layer imports only the layers below it, hmf_core never
imports streamlit; and the contract catches a wrong-way import when one is added."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` run in `root` (its pyproject.toml's contracts) on the packages there."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_hmf_core_keeps_its_import_contracts():
    result = lint_imports(ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "hmf_core in layers" in output and "KEPT" in output
    assert "BROKEN" not in output


def test_a_wrong_way_import_breaks_the_layers_contract(tmp_path):
    """A copy of the project where the model (models layer) imports the run folder (runs
    layer, above it): lint-imports fails and names that import."""
    for package in ("hmf_core", "dashboard"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0  # the copy alone keeps the contracts
    model = tmp_path / "hmf_core" / "models" / "hmf.py"
    text = model.read_text()
    future = "from __future__ import annotations\n"
    assert future in text
    model.write_text(text.replace(future, future + "import hmf_core.runs.rundir\n", 1))
    result = lint_imports(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "hmf_core.models is not allowed to import hmf_core.runs" in output, output
    assert "hmf_core.models.hmf -> hmf_core.runs.rundir" in output, output


def test_training_settings_import_neither_lightning_nor_numba():
    """The dashboard validates settings before any training: importing them stays light."""
    code = (
        "import sys, hmf_core.training.settings; "
        "print(sorted(m for m in ('pytorch_lightning', 'lightning', 'numba') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_function_is_over_80_lines():
    """Issue 18: functions stay short enough to read (the Train page once had a 273-line
    function). Counted from the `def` line to the last line of the body."""
    long = []
    for folder in ("hmf_core", "dashboard"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > 80:
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        long.append(f"{where} {node.name} ({length})")
    assert long == [], long
