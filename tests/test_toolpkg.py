"""tests/toolpkg.py: reading the build-time test run out of a package build's log."""

from __future__ import annotations

import pytest

from tests.toolpkg import passed_tests


@pytest.mark.parametrize(("closing", "passed"), [
    ("========= 380 passed, 89 deselected in 22.51s =========", 380),
    # from a minute on, pytest adds (h:mm:ss): a busy or slow build machine
    ("== 379 passed, 1 skipped, 89 deselected in 64.04s (0:01:04) ==", 379),
    ("= 12 passed in 3723.00s (1:02:03) =", 12),
], ids=["seconds", "over-a-minute", "over-an-hour"])
def test_passed_tests_reads_the_closing_line(closing: str, passed: int) -> None:
    log = f"dh_auto_test -O--buildsystem=pybuild\n...\n{closing}\ndh_auto_install\n"
    assert passed_tests(log) == passed


@pytest.mark.parametrize("log", [
    "dh_auto_test: nothing to do\n",  # no run (nocheck)
    "== 1 failed, 379 passed in 64.04s (0:01:04) ==\n",
    "== 380 passed, 2 errors in 30.00s ==\n",
    "== 380 passed in 20.00s ==\n== 380 passed in 21.00s ==\n",  # two runs: which one?
], ids=["no-run", "failed", "errors", "two-runs"])
def test_passed_tests_is_zero_unless_one_run_passed(log: str) -> None:
    assert passed_tests(log) == 0
