"""The layer contract (pyproject.toml, [tool.importlinter]) holds, and it can fail.

core below input below check | package | qemu below cli; errors imports nothing of ours; the
subsystems are used through their faces. import-linter is a test dependency, so a missing one
fails here like any missing tool.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.tools import run

pytestmark = pytest.mark.lint

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> str:
    """lint-imports on the ipxe_compat found first on the path in ``root``, with our contracts."""
    result = run([LINT, "--no-cache", "--no-logo", REPO / "pyproject.toml"], cwd=root,
                 env={"PYTHONPATH": str(root)}, check=False)
    return result.stdout + result.stderr


def test_the_code_keeps_the_layer_contract() -> None:
    output = lint(REPO)
    assert "Contracts: 5 kept, 0 broken." in output, output


def test_the_contract_catches_an_import_against_the_layers(tmp_path: Path) -> None:
    """A copy of the code where core imports cli (upwards) and cli bypasses a face: both named."""
    shutil.copytree(REPO / "ipxe_compat", tmp_path / "ipxe_compat",
                    ignore=shutil.ignore_patterns("__pycache__"))
    sizes = tmp_path / "ipxe_compat" / "core" / "sizes.py"
    sizes.write_text(sizes.read_text() + "\nfrom ..cli import PROG  # noqa\n")
    cli = tmp_path / "ipxe_compat" / "cli" / "__init__.py"
    cli.write_text(cli.read_text() + "\nfrom ..package.plan import make_plan  # noqa\n")
    output = lint(tmp_path)
    # core -> cli also reaches the runner from core: "core is pure" breaks with the layers
    assert "Contracts: 2 kept, 3 broken." in output, output
    assert "ipxe_compat.core.sizes -> ipxe_compat.cli" in output
    assert "ipxe_compat.cli -> ipxe_compat.package.plan" in output


def test_the_contract_keeps_processes_out_of_core(tmp_path: Path) -> None:
    """core starting a process (importing the runner) is named: core is pure."""
    shutil.copytree(REPO / "ipxe_compat", tmp_path / "ipxe_compat",
                    ignore=shutil.ignore_patterns("__pycache__"))
    names = tmp_path / "ipxe_compat" / "core" / "names.py"
    names.write_text(names.read_text() + "\nfrom ..runner import run  # noqa\n")
    output = lint(tmp_path)
    assert "Contracts: 4 kept, 1 broken." in output, output
    assert "ipxe_compat.core.names -> ipxe_compat.runner" in output
