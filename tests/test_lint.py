"""The source keeps ruff's broad rule set and mypy's strict mode (pyproject.toml), and the lint
can fail: a planted violation is named. ruff and mypy are test dependencies, so a missing one
fails here like any missing tool."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.tools import run

pytestmark = pytest.mark.lint

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff_finds_nothing() -> None:
    result = run([BIN / "ruff", "check", "--no-cache", "--output-format", "concise"], cwd=REPO,
                 check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_names_a_planted_violation(tmp_path: Path) -> None:
    """A copy of the code with a line over 100 columns and an unused import: both named."""
    shutil.copytree(REPO / "ipxe_compat", tmp_path / "ipxe_compat",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    sizes = tmp_path / "ipxe_compat" / "core" / "sizes.py"
    sizes.write_text(sizes.read_text() + "import os\nLONG = '" + "x" * 100 + "'\n")
    result = run([BIN / "ruff", "check", "--no-cache", "--output-format", "concise",
                  "ipxe_compat"], cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "sizes.py" in result.stdout and "E501" in result.stdout and "F401" in result.stdout


@pytest.mark.slow
def test_mypy_strict_finds_nothing() -> None:
    result = run([BIN / "mypy", "ipxe_compat"], cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
