"""Run Debian's own tools on a generated tree: dpkg-source -b and dpkg-genchanges -S.

Only dpkg-dev knows how to write a .dsc and .changes exactly as the archive expects, so we call
it rather than imitate it. The environment is pinned (SOURCE_DATE_EPOCH, TZ, LC_ALL, umask) so
the results depend only on the tree.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..core.tools import install_hint
from ..errors import ToolError

__all__ = ["build_source_package"]

#: dpkg-source and dpkg-genchanges take about a second on a package this size.
TOOL_TIMEOUT = 600


def _run(argv: list[str], cwd: Path, epoch: int) -> None:
    hint = install_hint(argv[0])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SOURCE_DATE_EPOCH": str(epoch),
        "TZ": "UTC",
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/nonexistent"),
    }
    old_umask = os.umask(0o022)
    try:
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False,
                                timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise ToolError(f"{' '.join(argv)} did not finish within {TOOL_TIMEOUT} s") from error
    except OSError as error:
        raise ToolError(f"cannot run {argv[0]} ({hint}): {error.strerror}") from error
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ToolError(f"{' '.join(argv)} failed (exit {result.returncode}): {last[0]}")


def build_source_package(parent: Path, tree: str, changes: str, epoch: int) -> None:
    """Write the .dsc, .debian.tar.xz and the source-only ``changes`` into ``parent``.

    Their mtimes are set to ``epoch`` (the changelog date), like every other output file, so
    nothing about them depends on when they were made.
    """
    before = set(parent.iterdir())
    _run(["dpkg-source", "--build", tree], cwd=parent, epoch=epoch)
    _run(["dpkg-genchanges", "--build=source", f"-O../{changes}"], cwd=parent / tree, epoch=epoch)
    for path in set(parent.iterdir()) - before:
        os.chmod(path, 0o644)
        os.utime(path, (epoch, epoch))
