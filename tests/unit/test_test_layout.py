"""The test suite's own layout: test modules share helpers only through tests.support, never by importing another
test module or a conftest.py (fixtures reach tests through pytest, not through imports)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

TESTS = ROOT / "tests"
KINDS = ("unit", "api", "e2e", "browser", "distributed")


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_") or last.endswith("_test")


def imported_test_modules(path: Path) -> list[str]:
    """The test modules and conftests `path` imports, as written (relative imports keep their dots)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module and _is_test_module(node.module):
                found.append(module)
            elif not node.module or module.rstrip(".") in ("", "tests") or module.startswith("tests."):
                # `from . import test_x` or `from tests import conftest`: the names are the modules
                sep = "" if module.endswith(".") else "."
                found += [f"{module}{sep}{alias.name}" for alias in node.names if _is_test_module(alias.name)]
    return found


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    modules = [p for p in TESTS.rglob("*.py") if ".venv" not in p.parts]
    assert len([p for p in modules if p.name.startswith("test_")]) > 40  # the walk found the suite
    offenders = {str(path.relative_to(TESTS)): imports for path in modules if (imports := imported_test_modules(path))}
    assert offenders == {}, "import shared helpers from tests.support instead: " + repr(offenders)


def test_the_check_recognises_each_way_of_importing_a_test_module(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "from .test_api import deploy\nfrom tests.conftest import TOKEN\nfrom . import test_browser_assets\n"
        "import tests.e2e.test_api\nfrom ..conftest import Server\nfrom tests.support.rest import deploy\n"
        "from tests import support\n"
    )
    assert imported_test_modules(sample) == [
        ".test_api",
        "tests.conftest",
        ".test_browser_assets",
        "tests.e2e.test_api",
        "..conftest",
    ]


def test_every_test_module_sits_in_a_folder_of_its_kind() -> None:
    outside = [
        str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if p.relative_to(TESTS).parts[0] not in KINDS
    ]
    assert outside == [], f"put test modules under one of tests/{{{','.join(KINDS)}}}/"
