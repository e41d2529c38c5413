"""Build ipxe-compat's own Debian package from this repository, as its maintainer would.

dpkg-buildpackage writes its results into the parent of the source tree, so the tree is first
copied (git's list of files, uncommitted edits included, ignored files such as .venv left out)
into a directory of its own: the checkout is never built in. The build runs with Debian's own
/usr/bin/python3 and libraries first on PATH, never the venv's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ipxe_compat import __version__
from tests.tools import explain, run

REPO = Path(__file__).resolve().parent.parent
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
SOURCE = "ipxe-compat"
DEB = f"ipxe-compat_{__version__}_all.deb"
DSC = f"ipxe-compat_{__version__}.dsc"
TARBALL = f"ipxe-compat_{__version__}.tar.xz"


#: What a build adds to the environment: Debian's python3 first (not the venv's or pyenv's), and
#: no build options or profiles of the caller's.
ENV = {"PATH": DEBIAN_PATH, "PYTHONPATH": "", "DEB_BUILD_OPTIONS": "", "DEB_BUILD_PROFILES": ""}


def copy_tree(parent: Path) -> Path:
    """``parent/ipxe-compat``: the files git lists (tracked, and untracked but not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout
    tree = parent / SOURCE
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    return tree


@dataclass(frozen=True)
class Build:
    """A dpkg-buildpackage run in a copy of the repository."""

    tree: Path
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def parent(self) -> Path:
        return self.tree.parent

    @property
    def log(self) -> str:
        return self.result.stdout + self.result.stderr

    def failure(self) -> str:
        return explain(self.result, tail=5000)


def build(tree: Path, *options: str, env: dict[str, str] | None = None) -> Build:
    """``dpkg-buildpackage -us -uc OPTIONS`` in ``tree`` (a copy_tree), results beside it;
    ``env`` is added to :data:`ENV`."""
    start = time.monotonic()
    result = run(
        ["dpkg-buildpackage", "-us", "-uc", *options],
        cwd=tree,
        env={**ENV, **(env or {})},
        check=False,
    )
    return Build(tree, result, time.monotonic() - start)


#: pytest's closing line: ``=== 379 passed, 1 skipped, 89 deselected in 64.04s (0:01:04) ===``;
#: pytest adds the (h:mm:ss) form from a minute on, as a slower build machine reaches.
_SUMMARY = re.compile(r"^=+ (?P<counts>.*) in [\d.]+s(?: \(\d+:\d\d:\d\d\))? =+$", re.MULTILINE)


def passed_tests(log: str) -> int:
    """How many tests the one pytest run in ``log`` passed; 0 if none ran or anything failed."""
    summary = _SUMMARY.findall(log)
    if len(summary) != 1 or re.search(r"failed|error", summary[0]):
        return 0
    match = re.search(r"(\d+) passed", summary[0])
    return int(match.group(1)) if match else 0
