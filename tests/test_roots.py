"""tests/roots.py: the cache key, and what a command inside a root can and cannot reach."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests import archive
from tests.conftest import _cannot, require_tool
from tests.roots import Root, RootSpec, ensure_root, mmdebstrap_argv

MIRROR = "http://mirror.invalid/debian"


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fixed mirror, so that the key and the mmdebstrap call need no apt (the real one comes
    from ``apt-get indextargets``)."""
    monkeypatch.setattr(archive, "mirror", lambda: MIRROR)
    return MIRROR


def test_the_key_follows_every_input(tmp_path: Path, mirror: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    deb = tmp_path / "x.deb"
    deb.write_bytes(b"one")
    base = RootSpec("trixie", ("qemu-system-x86",), (deb,), ("true",))
    same = RootSpec("trixie", ("qemu-system-x86",), (deb,), ("true",)).key()
    assert base.key() == same and base.key().startswith("trixie-")
    others = [RootSpec("sid", ("qemu-system-x86",), (deb,), ("true",)),
              RootSpec("trixie", ("lintian",), (deb,), ("true",)),
              RootSpec("trixie", ("qemu-system-x86",), (), ("true",)),
              RootSpec("trixie", ("qemu-system-x86",), (deb,), ("false",))]
    assert len({base.key(), *(o.key() for o in others)}) == 5
    deb.write_bytes(b"two")  # same path, other bytes: another root
    assert base.key() != same
    changed = base.key()
    monkeypatch.setattr(archive, "mirror", lambda: f"{mirror}-elsewhere")
    assert base.key() != changed  # another mirror: another root


def test_mmdebstrap_installs_the_debs_then_runs_the_setup_in_order(tmp_path: Path,
                                                                  mirror: str) -> None:
    deb = tmp_path / "x.deb"
    argv = mmdebstrap_argv(RootSpec("sid", ("lintian",), (deb,), ("echo one", "echo two")),
                           tmp_path / "root")
    hooks = [a for a in argv if a.startswith("--customize-hook=")]
    assert hooks[1] == '--customize-hook=chroot "$1" dpkg -i /tmp/x.deb'
    assert hooks[-2:] == ["--customize-hook=chroot \"$1\" /bin/sh -ec 'echo one'",
                          "--customize-hook=chroot \"$1\" /bin/sh -ec 'echo two'"]
    assert "--include=lintian" in argv and argv[-3:-1] == ["sid", str(tmp_path / "root")]
    assert argv[-1] == f"deb {mirror} sid main"


@pytest.fixture(scope="module")
def sid() -> Root:
    require_tool("mmdebstrap", "unshare")
    try:
        return ensure_root(RootSpec("sid", ("qemu-system-x86",)))
    except RuntimeError as error:
        _cannot(str(error))


def _host_mounts_of(root: Root) -> list[str]:
    return [line for line in Path("/proc/self/mounts").read_text().splitlines()
            if str(root.path) in line]


@pytest.mark.integration
@pytest.mark.slow
def test_a_command_sees_shares_at_the_same_path_and_a_private_tmp(sid: Root,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "from-host").write_text("hello\n")
    script = (f"cat {tmp_path}/from-host; echo back > {tmp_path}/from-root; pwd; "
              "echo tmp: $(ls -A /tmp); cat /etc/debian_version")
    result = sid.run(["sh", "-c", script], shares=[tmp_path])
    lines = result.stdout.splitlines()
    assert lines[0] == "hello" and lines[1] == "/" and lines[3].endswith("/sid")
    # /tmp is a fresh tmpfs: it holds only the way to the share, nothing else of the host's /tmp
    way_to_share = tmp_path.parts[2:3] if tmp_path.parts[1] == "tmp" else ()
    assert lines[2].split() == ["tmp:", *way_to_share]
    assert (tmp_path / "from-root").read_text() == "back\n"
    assert _host_mounts_of(sid) == []


@pytest.mark.integration
@pytest.mark.slow
def test_mounts_never_reach_the_host_even_while_running_or_when_killed(sid: Root,
                                                                       tmp_path: Path) -> None:
    process = subprocess.Popen(sid.command(["sleep", "60"], [tmp_path]))
    try:
        time.sleep(0.5)
        assert process.poll() is None
        assert _host_mounts_of(sid) == []
    finally:
        process.kill()
        process.wait()
    assert _host_mounts_of(sid) == []


@pytest.mark.integration
@pytest.mark.slow
def test_wrapper_runs_qemu_of_the_root(sid: Root, tmp_path: Path) -> None:
    wrapper = sid.wrapper(tmp_path / "qemu", ["qemu-system-x86_64"], [tmp_path])
    result = subprocess.run([str(wrapper), "--version"], capture_output=True, text=True,
                            check=True)
    assert result.stdout.startswith("QEMU emulator version 11.1.")
