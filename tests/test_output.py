"""Output safety: staging, atomic moves into place, SIGINT/SIGTERM, and the orig tarball format."""

from __future__ import annotations

import io
import lzma
import os
import signal
import tarfile
import time
from pathlib import Path

import pytest

from ipxe_compat.errors import Interrupted, OutputError, OutputExistsError
from ipxe_compat.package.output import Entry, check_outdir, orig_tarball, publish


def test_block_outputs_are_moved_into_place(tmp_path: Path) -> None:
    with publish(tmp_path, ["a.tar.xz", "tree"], force=False) as (stage, report):
        (stage / "a.tar.xz").write_bytes(b"x")
        (stage / "tree").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.xz", "tree"]
    assert report.left == []


@pytest.mark.parametrize("how", ["exception", "sigterm", "sigint", "sighup"])
def test_an_interrupted_block_leaves_nothing(tmp_path: Path, how: str) -> None:
    (tmp_path / "existing").write_text("mine\n")
    with pytest.raises((RuntimeError, Interrupted), match=r"disk full|signal"), \
            publish(tmp_path, ["existing", "tree"], force=True) as (stage, _):  # noqa: PT012
        (stage / "tree").mkdir()
        (stage / "tree" / "half").write_bytes(b"half written")
        (stage / "existing").write_text("replacement\n")
        if how == "exception":
            raise RuntimeError("disk full")
        os.kill(os.getpid(), {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT,
                              "sighup": signal.SIGHUP}[how])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert (tmp_path / "existing").read_text() == "mine\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored afterwards
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL


def test_existing_outputs_are_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    with pytest.raises(OutputExistsError, match="tree already exists"):
        check_outdir(tmp_path, ["orig.tar.xz", "tree"], force=False)
    check_outdir(tmp_path, ["orig.tar.xz", "tree"], force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        check_outdir(tmp_path / "file", ["tree"], force=True)
    check_outdir(tmp_path / "new" / "out", ["tree"], force=False)
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_outdir_made_for_a_failed_block_is_removed_again(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="dpkg-source failed"), \
            publish(tmp_path / "a" / "b" / "out", ["tree"], force=False):
        raise RuntimeError("dpkg-source failed")
    assert list(tmp_path.iterdir()) == []
    with publish(tmp_path / "a" / "out", ["tree"], force=False) as (stage, _):
        (stage / "tree").mkdir()
    assert [p.name for p in (tmp_path / "a" / "out").iterdir()] == ["tree"]


def test_outdir_that_cannot_be_made_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o555)
    if os.access(tmp_path / "ro", os.W_OK):  # root writes anywhere: take the write away differently
        (tmp_path / "ro").rmdir()
        (tmp_path / "ro").write_text("a file, where a directory is needed\n")
    with pytest.raises(OutputError, match="cannot create output directory") as caught, \
            publish(tmp_path / "ro" / "out", ["tree"], force=False):
        pass
    assert caught.value.exit_code == 2


def test_orig_tarball_members_are_sorted_root_owned_with_given_mtimes() -> None:
    data = orig_tarball("top", [Entry("b.rom", b"2", 0o644, 200), Entry("a.rom", b"1", 0o644, 100)])
    assert data.startswith(b"\xfd7zXZ")
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(data))) as tar:
        members = [(m.name, m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname)
                   for m in tar.getmembers()]
    assert members == [("top", 0o755, 200, 0, 0, "root", "root"),
                       ("top/a.rom", 0o644, 100, 0, 0, "root", "root"),
                       ("top/b.rom", 0o644, 200, 0, 0, "root", "root")]


def test_orig_tarball_ignores_clock_time_zone_and_umask(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [Entry("b.rom", b"2" * 700, 0o644, 200), Entry("a.rom", b"1" * 900, 0o644, 100)]
    first = orig_tarball("top", entries)
    monkeypatch.setattr(time, "time", lambda: 4102444800.0)  # 2100-01-01: any clock read shows
    monkeypatch.setattr(time, "time_ns", lambda: 4102444800 * 10**9)
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    time.tzset()
    old_umask = os.umask(0o077)
    try:
        second = orig_tarball("top", list(reversed(entries)))
    finally:
        os.umask(old_umask)
        monkeypatch.undo()
        time.tzset()
    assert second == first
