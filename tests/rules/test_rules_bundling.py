"""rules/ and engine/ are bundled into the QMT script: Python 3.6 syntax (vermin),
relative imports of our own modules only, stdlib otherwise, no I/O or clock.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import jq2qmt

PKG = Path(jq2qmt.__file__).resolve().parent
BUNDLED = sorted((PKG / "rules").glob("*.py")) + sorted((PKG / "engine").glob("*.py"))
ALLOWED_STDLIB = {"math", "re", "decimal", "fnmatch", "collections", "datetime"}
FORBIDDEN_CALLS = {"open", "print", "input"}


def test_vermin_py36():
    args = [
        sys.executable,
        "-c",
        "import sys; from vermin.main import main; sys.exit(main())",
        "-t=3.6-",
        "--violations",
        "--no-tips",
    ]
    res = subprocess.run(
        args + [str(PKG / "rules"), str(PKG / "engine")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: "%s/%s" % (p.parent.name, p.name))
def test_imports_are_relative_or_small_stdlib(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name in ALLOWED_STDLIB, alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level > 0 or node.module in ALLOWED_STDLIB, node.module
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, node.func.id


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: "%s/%s" % (p.parent.name, p.name))
def test_public_functions_have_docstrings(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            assert ast.get_docstring(node), "%s.%s" % (path.name, node.name)
