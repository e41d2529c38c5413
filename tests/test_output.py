"""Output safety: staging, atomic moves into place, SIGINT/SIGTERM, and the orig tarball format."""

from __future__ import annotations

import io
import lzma
import os
import signal
import tarfile
from pathlib import Path

import pytest

from ipxe_compat.errors import OutputExistsError, UsageError
from ipxe_compat.output import Entry, orig_tarball, prepare_outdir, staging


def test_block_outputs_are_moved_into_place(tmp_path: Path) -> None:
    with staging(tmp_path, force=False) as stage:
        (stage / "a.tar.xz").write_bytes(b"x")
        (stage / "tree").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.xz", "tree"]


@pytest.mark.parametrize("how", ["exception", "sigterm", "sigint"])
def test_an_interrupted_block_leaves_nothing(tmp_path: Path, how: str) -> None:
    (tmp_path / "existing").write_text("mine\n")
    with pytest.raises((RuntimeError, KeyboardInterrupt)), staging(tmp_path, force=True) as stage:
        (stage / "tree").mkdir()
        (stage / "tree" / "half").write_bytes(b"half written")
        (stage / "existing").write_text("replacement\n")
        if how == "exception":
            raise RuntimeError("disk full")
        os.kill(os.getpid(), signal.SIGTERM if how == "sigterm" else signal.SIGINT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert (tmp_path / "existing").read_text() == "mine\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored afterwards


def test_existing_outputs_are_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    with pytest.raises(OutputExistsError, match="tree already exists"):
        prepare_outdir(tmp_path, ["orig.tar.xz", "tree"], force=False)
    prepare_outdir(tmp_path, ["orig.tar.xz", "tree"], force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        prepare_outdir(tmp_path / "file", ["tree"], force=True)


def test_orig_tarball_members_are_sorted_root_owned_with_given_mtimes() -> None:
    data = orig_tarball("top", [Entry("b.rom", b"2", 0o644, 200), Entry("a.rom", b"1", 0o644, 100)])
    assert data.startswith(b"\xfd7zXZ")
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(data))) as tar:
        members = [(m.name, m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname)
                   for m in tar.getmembers()]
    assert members == [("top", 0o755, 200, 0, 0, "root", "root"),
                       ("top/a.rom", 0o644, 100, 0, 0, "root", "root"),
                       ("top/b.rom", 0o644, 200, 0, 0, "root", "root")]
    assert orig_tarball("top", [Entry("a.rom", b"1", 0o644, 100)]) == orig_tarball(
        "top", [Entry("a.rom", b"1", 0o644, 100)])
