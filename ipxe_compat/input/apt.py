"""``apt:NAME[=VERSION]`` sources: resolved to a binary package fetched with apt into a cache.
Resolving only: :mod:`.sources` reads the file it returns.

The package is downloaded with ``apt-get download`` into ``$XDG_CACHE_HOME/ipxe-compat``; the
reader checks the SHA256 that apt's own (signed) index records on the very bytes it parses (one
open, :func:`.debpkg.read_deb`), so nothing can change between check and use. A cached file is
reused without asking the network; one that no longer matches is downloaded again. apt's
configuration is the machine's, or the one
``APT_CONFIG`` names, so other suites can be added without touching the system's sources.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from debian.deb822 import Deb822

from ..core import fields
from ..core.tools import package
from ..errors import SourceError, UsageError
from ..runner import Completed, RunError, ToolMissing, run

__all__ = ["PREFIX", "cache_dir", "fetch", "parse_spec"]

PREFIX = "apt:"
#: apt-cache answers from local files; apt-get download fetches one package of a few MB.
QUERY_TIMEOUT = 120
DOWNLOAD_TIMEOUT = 900


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ipxe-compat"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``apt:ipxe-qemu=1.0-1`` -> (``ipxe-qemu``, ``1.0-1``); version None means apt's candidate."""
    name, sep, version = spec.removeprefix(PREFIX).partition("=")
    fields.package_name(name)
    if sep:
        fields.any_version(version)
        return name, version
    return name, None


#: apt's answers are a few KB; a package record list, a few hundred.
MAX_ANSWER = 4 << 20


def _apt(*argv: str, cwd: Path | None = None, timeout: int = QUERY_TIMEOUT) -> Completed:
    """apt-cache or apt-get through the runner (a hung apt and its methods die with it)."""
    provider = package(argv[0])
    try:
        return run(list(argv), cwd=cwd, env={**os.environ, "LC_ALL": "C"}, timeout=timeout,
                   max_stdout=MAX_ANSWER)
    except ToolMissing as error:
        raise SourceError(f"cannot run {argv[0]}: command not found "
                          f"(no {provider}: is this a Debian system?)") from error
    except RunError as error:
        raise SourceError(error.message) from error


def _text(data: bytes) -> str:
    """apt speaks UTF-8 (LC_ALL=C keeps its words English; descriptions may be anything)."""
    return data.decode("utf-8", errors="replace")


def _record(spec: str, name: str, version: str | None) -> Deb822:
    """apt's index record of the package: Version, Filename, SHA256."""
    if version is None:
        policy = _text(_apt("apt-cache", "policy", name).stdout)
        candidates = [line.split(":", 1)[1].strip() for line in policy.splitlines()
                      if line.strip().startswith("Candidate:")]
        if not candidates or candidates[0] == "(none)":
            raise SourceError(f"apt knows no version of {name} (apt-get update, or add the suite "
                              "to apt's sources or APT_CONFIG)", path=spec)
        version = candidates[0]
    answer = _apt("apt-cache", "show", f"{name}={version}")
    records = [Deb822(block) for block in _text(answer.stdout).split("\n\n") if block.strip()]
    if answer.status != 0 or not records:
        raise SourceError(f"apt does not know {name}={version} (apt-get update, or add the suite "
                          "that has it to apt's sources or APT_CONFIG)", path=spec)
    record = records[0]
    if not record.get("SHA256") or not record.get("Filename"):
        raise SourceError(f"apt's record of {name}={version} has no SHA256 or Filename", path=spec)
    return record


def fetch(spec: str) -> tuple[Path, str, bool]:
    """The .deb for an ``apt:`` spec, from the cache or downloaded into it, with the sha256 apt's
    index gives it and whether it came from the cache. The caller verifies while it reads."""
    try:
        name, version = parse_spec(spec)
    except UsageError as error:
        raise SourceError(f"not an apt source: {error.message}", path=spec) from error
    record = _record(spec, name, version)
    expected = record["SHA256"]
    cache = cache_dir()
    target: Path = cache / os.path.basename(str(record["Filename"]))
    if target.is_file():
        return target, expected, True
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        result = _apt("apt-get", "-q", "-o", "APT::Sandbox::User=root", "download",
                      f"{name}={record['Version']}", cwd=Path(tmp), timeout=DOWNLOAD_TIMEOUT)
        downloaded = Path(tmp) / target.name
        if result.status != 0 or not downloaded.is_file():
            raise SourceError(f"apt-get download {name}={record['Version']} failed: "
                              f"{result.last_line()}", path=spec)
        shutil.move(downloaded, target)
    return target, expected, False
