"""The benchmark runs (a smoke round only: its figures are for people, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_smoke_run_completes(bookworm_deb: Path, sid_deb: Path) -> None:
    require_tool("dpkg-deb", "xz", "tar")
    bench = Path(__file__).resolve().parent.parent / "bench" / "bench.py"
    result = subprocess.run([sys.executable, str(bench), "--smoke"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for line in ("generate / shell floor:", "--help / minimal click --help:",
                 "check of two real .debs:", "generate 64 ROMs + 8 MiB other files"):
        assert line in result.stdout
