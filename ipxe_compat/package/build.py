"""Run Debian's own tools on a generated tree: dpkg-source -b and dpkg-genchanges -S.

Only dpkg-dev knows how to write a .dsc and .changes exactly as the archive expects, so we call
it rather than imitate it. The environment is pinned (SOURCE_DATE_EPOCH, TZ, LC_ALL, umask) so
the results depend only on the tree; TMPDIR is the transaction's, so whatever the tools leave
there goes with its staging directory. They run through the runner: a timeout, an error or an
interrupt ends them and everything they started.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..errors import ToolError
from ..runner import RunError, run

__all__ = ["build_source_package"]

#: dpkg-source and dpkg-genchanges take about a second on a package this size.
TOOL_TIMEOUT = 600


def _run(argv: list[str], cwd: Path, epoch: int, tmpdir: Path | None) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SOURCE_DATE_EPOCH": str(epoch),
        "TZ": "UTC",
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/nonexistent"),
        **({"TMPDIR": str(tmpdir)} if tmpdir is not None else {}),
    }
    try:
        result = run(argv, cwd=cwd, env=env, timeout=TOOL_TIMEOUT, umask=0o022)
    except RunError as error:
        raise ToolError(error.message) from error
    if result.status != 0:
        raise ToolError(f"{shlex.join(argv)} failed (exit {result.status}): {result.last_line()}")


def build_source_package(parent: Path, tree: str, changes: str, epoch: int,
                         tmpdir: Path | None = None) -> None:
    """Write the .dsc, .debian.tar.xz and the source-only ``changes`` into ``parent``.

    Their mtimes are set to ``epoch`` (the changelog date), like every other output file, so
    nothing about them depends on when they were made.
    """
    before = set(parent.iterdir())
    _run(["dpkg-source", "--build", tree], cwd=parent, epoch=epoch, tmpdir=tmpdir)
    _run(["dpkg-genchanges", "--build=source", f"-O../{changes}"], cwd=parent / tree, epoch=epoch,
         tmpdir=tmpdir)
    for path in set(parent.iterdir()) - before:
        os.chmod(path, 0o644)
        os.utime(path, (epoch, epoch))
