"""planner/ is the headless domain: it must never import Qt, VTK or ui."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "vtk", "vtkmodules", "ui", "pyvista")


def test_planner_never_imports_qt_vtk_or_ui():
    offenders = []
    for path in (ROOT / "planner").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_import_planner_loads_no_qt():
    code = "import sys, planner.cli, planner.dicom.importer, planner.dicom.loader, planner.demo; print([m for m in sys.modules if m.startswith(('PySide6', 'vtk'))])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
