"""``preflight``: which guests of a libvirt host would break on a destination, and the fix.

For each domain (and each ``virsh save`` image) the sizes of the migrated RAM blocks a file fixes
are read at both ends, never taken from a table: on the source from the running QEMU, or from
the save image's own stream, or else from a twin of the domain started paused on the source
(its XML with the source's firmware files); on the destination always from a twin started
paused there (:mod:`.twin`: nothing of the guest's, a name of its own, destroyed in every
outcome). With ``--apply`` the destination's twin is the domain as ``qemu-config --apply``
rewrites it. The destination is a libvirt host (``--to-uri``) or a QEMU command
(``--to-qemu``, :mod:`.bare`): the same twin either way. Twins run in parallel, up to ``jobs``
at once. Source domains are only read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from ..core.compat import DEFAULT_TIMEOUT
from ..core.domxml import parse
from ..core.outcome import Outcome
from ..errors import SourceError, ToolError, UsageError, signals_as_exceptions
from ..qemu import Applied, CompatPaths, apply_xml
from .bare import BareQemu
from .blocks import BlockDiff, differing, parse_ramblock, parse_save_image
from .connection import Host, Listed, TwinError, twin_name
from .report import DomainResult, report
from .twin import NVRAM_BLOCK, twin_xml

__all__ = ["PreflightRequest", "preflight"]

#: A save image's header and XML are a few KB; the RAM section's block list follows at once.
SAVE_HEAD = 1 << 20


@dataclass(frozen=True)
class PreflightRequest:
    """What ``preflight`` was asked (the command line's options, checked)."""

    domains: tuple[str, ...] = ()
    source_uri: str | None = None
    saved: tuple[str, ...] = ()
    to_uri: str | None = None
    fix: CompatPaths | None = None
    jobs: int = 4
    to_qemu: str | None = None
    timeout: float = DEFAULT_TIMEOUT  # per twin of --to-qemu


class Destination(Protocol):
    """Where twins run: a libvirt host (:class:`.connection.Host`) or a QEMU command
    (:class:`.bare.BareQemu`)."""

    @property
    def label(self) -> str: ...

    def twin_blocks(self, xml: str) -> str: ...


@dataclass
class _Job:
    index: int
    name: str
    state: str
    xml: str
    listed: Listed | None = None
    image_blocks: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)


def default_jobs() -> int:
    """Twins at once: QEMU's start is mostly waiting, so two per CPU, at most 8."""
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


def preflight(request: PreflightRequest) -> Outcome:
    """Judge every domain and save image of the source against the destination."""
    if (request.to_uri is None) == (request.to_qemu is None):
        raise UsageError("give the destination: --to-uri URI or --to-qemu CMD")
    with signals_as_exceptions(), _destination(request) as destination, \
            Host(request.source_uri, "source") as source:
        jobs = _jobs(source, request)
        results = _run(source, destination, jobs, request)
    return report(source.label, destination.label, results, request.fix)


def _destination(request: PreflightRequest) -> Host | BareQemu:
    if request.to_qemu is not None:
        return BareQemu(request.to_qemu, request.timeout)
    return Host(request.to_uri, "destination")


def _jobs(source: Host, request: PreflightRequest) -> list[_Job]:
    found: list[_Job] = []
    for listed in source.domains(request.domains):
        found.append(_Job(len(found), listed.name, listed.state, "", listed=listed))
    for path in request.saved:
        xml = source.save_image_xml(path)
        job = _Job(len(found), parse(xml, f"--saved {path}").name, f"saved: {path}", xml)
        if source.local:
            job.image_blocks = _image_blocks(path, job.notes)
        found.append(job)
    return found


def _image_blocks(path: str, notes: list[str]) -> dict[str, int] | None:
    """The blocks in the image's own stream, if this machine can read it (else a twin)."""
    try:
        with open(path, "rb") as image:
            head = image.read(SAVE_HEAD)
    except OSError as error:
        notes.append(f"cannot read the image here ({error.strerror}): source sizes from a twin")
        return None
    blocks = parse_save_image(head, path).blocks
    if blocks is None:
        notes.append("a compressed or unknown image stream: source sizes from a twin")
    return blocks


def _run(source: Host, destination: Destination, jobs: Sequence[_Job],
         request: PreflightRequest) -> list[DomainResult]:
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(request.jobs, len(jobs) or 1)))
    futures: list[Future[DomainResult]] = [
        pool.submit(_judge, source, destination, job, request.fix, cancel) for job in jobs]
    try:
        return [future.result() for future in futures]
    except BaseException:
        cancel.set()  # running judges finish (and destroy) their twin; the rest never start
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _judge(source: Host, destination: Destination, job: _Job, fix: CompatPaths | None,
           cancel: threading.Event) -> DomainResult:
    def result(diffs: Sequence[BlockDiff] = (), error: str | None = None,
               applied: Applied | None = None, origin: str = "") -> DomainResult:
        return DomainResult(job.name, job.state, origin, tuple(diffs), error, applied,
                            tuple(job.notes))

    if cancel.is_set():
        return result(error="interrupted")
    try:
        if job.listed is not None:
            job.xml = source.xml(job.listed)
        domain = parse(job.xml, job.name)
        twin = twin_xml(domain, twin_name(job.index))
        job.notes.extend(f"not judged: {item}" for item in twin.left_out)
        origin, blocks = _source_blocks(source, job, twin.xml)
        applied = None
        target = twin.xml
        if fix is not None:
            applied = apply_xml(job.xml, fix, job.name)
            target = twin_xml(parse(applied.xml, job.name), twin_name(job.index)).xml
        if cancel.is_set():
            return result(error="interrupted", origin=origin)
        try:
            there = parse_ramblock(destination.twin_blocks(target))
        except TwinError as failure:
            return result(error=f"the destination {failure.message}", applied=applied,
                          origin=origin)
        if blocks.pop(NVRAM_BLOCK, None) is not None:
            there.pop(NVRAM_BLOCK, None)
            job.notes.append(f"{NVRAM_BLOCK} not judged: the guest's own NVRAM file, which "
                             "must move with it (a new one from the destination's template may "
                             "differ in size)")
        return result(differing(blocks, there), applied=applied, origin=origin)
    except (TwinError, ToolError, SourceError) as failure:
        return result(error=failure.message)


def _source_blocks(source: Host, job: _Job, twin: str) -> tuple[str, dict[str, int]]:
    if job.image_blocks is not None:
        return "image", job.image_blocks
    if job.listed is not None and job.state in ("running", "paused"):
        return "live", parse_ramblock(source.live_blocks(job.listed))
    try:
        return "twin", parse_ramblock(source.twin_blocks(twin))
    except TwinError as failure:
        raise TwinError(f"the source {failure.message}") from None

