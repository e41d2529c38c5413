"""A failing external tool must explain itself in the test that ran it: command, exit, stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import archive
from tests.conftest import require_tool
from tests.tools import run


def test_a_failing_command_fails_the_test_with_its_exit_status_and_stderr() -> None:
    with pytest.raises(pytest.fail.Exception, match="exited 7") as failure:
        run(["sh", "-c", "echo 'partial output'; echo 'E: the real reason' >&2; exit 7"])
    message = str(failure.value)
    assert "sh -c" in message and "exited 7" in message
    assert "E: the real reason" in message and "partial output" in message


@pytest.mark.integration
def test_a_failing_private_apt_update_names_apt_and_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The private apt-get update of other suites used to escape as "exit status 100"."""
    require_tool("apt-get")
    monkeypatch.setenv("IPXE_COMPAT_TEST_CACHE", str(tmp_path))
    monkeypatch.setattr(archive, "mirror", lambda: f"file:{tmp_path}/no-mirror")
    with pytest.raises(RuntimeError, match=" update exited 100") as failure:
        archive.fetch(archive.SID_VERSION)
    message = str(failure.value)
    assert "apt-get" in message and " update exited 100" in message
    assert "no-mirror" in message  # apt's own words about the repository it could not read
