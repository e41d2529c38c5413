"""``preflight``: which guests of a libvirt host would break on a destination, and the fix.

For each domain (and each ``virsh save`` image) the sizes of the migrated RAM blocks a file fixes
are read at both ends, never taken from a table: on the source from the running QEMU, or from
the save image's own stream, or else from a twin of the domain started paused on the source
(its XML with the source's firmware files); on the destination always from a twin started
paused there (:mod:`.twin`: nothing of the guest's, a name of its own, destroyed in every
outcome). With ``--apply`` the destination's twin is the domain as ``qemu-config --apply``
rewrites it. The destination is a libvirt host (``--to-uri``) or a QEMU command
(``--to-qemu``, :mod:`.bare`): the same twin either way. Twins run in parallel, up to ``jobs``
at once. Source domains are only read. Every libvirt call is bounded by the request's timeout
and a signal is handled at once (:class:`.connection.Calls`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from ..core.compat import DEFAULT_TIMEOUT
from ..core.domxml import parse
from ..core.outcome import Outcome
from ..errors import SourceError, ToolError, UsageError, shown, signals_as_exceptions
from ..input import open_regular
from ..qemu import Applied, CompatPaths, apply_xml
from ..runner import kill_all
from .bare import BareQemu
from .blocks import BlockDiff, differing, parse_ramblock, parse_save_image
from .connection import Calls, Host, Listed, TwinError, twin_name
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
    timeout: float = DEFAULT_TIMEOUT  # per libvirt call, and per twin of --to-qemu


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
    file: str | None = None  # a --saved image's path
    image_blocks: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)


def default_jobs() -> int:
    """Twins at once: QEMU's start is mostly waiting, so two per CPU, at most 8."""
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


def preflight(request: PreflightRequest) -> Outcome:
    """Judge every domain and save image of the source against the destination."""
    if (request.to_uri is None) == (request.to_qemu is None):
        raise UsageError("give the destination: --to-uri URI or --to-qemu CMD")
    _utf8(request)
    calls = Calls(request.timeout)
    with signals_as_exceptions(), _destination(request, calls) as destination, \
            Host(request.source_uri, "source", calls) as source:
        jobs = _jobs(source, request)
        results = _run(source, destination, jobs, request, calls)
    return report(source.label, destination.label, results, request.fix, request.to_uri)


def _utf8(request: PreflightRequest) -> None:
    """Exit 2 for a name libvirt cannot be given: its binding passes only UTF-8 (a command
    line's other bytes arrive as surrogate escapes, which it cannot encode)."""
    given = [("-c", request.source_uri), ("--to-uri", request.to_uri),
             *(("DOMAIN", name) for name in request.domains),
             *(("--saved", path) for path in request.saved)]
    for what, value in given:
        try:
            (value or "").encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"{what} {shown(value or '')}: not UTF-8 (libvirt takes only UTF-8 "
                             "names)") from None


def _destination(request: PreflightRequest, calls: Calls) -> Host | BareQemu:
    if request.to_qemu is not None:
        return BareQemu(request.to_qemu, request.timeout)
    return Host(request.to_uri, "destination", calls)


def _jobs(source: Host, request: PreflightRequest) -> list[_Job]:
    found: list[_Job] = []
    for listed in source.domains(request.domains):
        found.append(_Job(len(found), listed.name, listed.state, "", listed=listed))
    for path in request.saved:
        if source.local:
            _regular_or_absent(path)  # libvirtd would wait on a FIFO's open for ever
        xml = source.save_image_xml(path)
        job = _Job(len(found), parse(xml, f"--saved {shown(path)}").name, "saved", xml,
                   file=path)
        if source.local:
            job.image_blocks = _image_blocks(path, job.notes)
        found.append(job)
    return found


def _regular_or_absent(path: str) -> None:
    """Exit 2 for a path of this machine that is there and no regular file (a FIFO, a device,
    a directory); one this user cannot see is the host's libvirt's to judge."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise UsageError(f"--saved {shown(path)}: not a regular file")


def _image_blocks(path: str, notes: list[str]) -> dict[str, int] | None:
    """The blocks in the image's own stream, if this machine can read it (else a twin)."""
    try:
        with open_regular(path) as (image, _info):
            head = image.read(SAVE_HEAD)
    except (OSError, SourceError) as error:
        reason = error.message if isinstance(error, SourceError) else error.strerror
        notes.append(f"cannot read the image here ({reason}): source sizes from a twin")
        return None
    blocks = parse_save_image(head, path).blocks
    if blocks is None:
        notes.append("a compressed or unknown image stream: source sizes from a twin")
    return blocks


def _run(source: Host, destination: Destination, jobs: Sequence[_Job],
         request: PreflightRequest, calls: Calls) -> list[DomainResult]:
    pool = ThreadPoolExecutor(max_workers=max(1, min(request.jobs, len(jobs) or 1)))
    futures: list[Future[DomainResult]] = [
        pool.submit(_judge, source, destination, job, request.fix, calls) for job in jobs]
    try:
        return [future.result() for future in futures]
    except BaseException:
        # A signal, or a host that stopped answering: libvirt calls under way get a short grace
        # (a twin started is destroyed), QEMU twins of --to-qemu end now; no judge starts.
        calls.cancel()
        kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _judge(source: Host, destination: Destination, job: _Job, fix: CompatPaths | None,
           calls: Calls) -> DomainResult:
    def result(diffs: Sequence[BlockDiff] = (), error: str | None = None,
               applied: Applied | None = None, origin: str = "",
               without: Sequence[BlockDiff] | None = None) -> DomainResult:
        return DomainResult(job.name, job.state, origin, tuple(diffs), error, applied,
                            tuple(job.notes), job.file,
                            None if without is None else tuple(without))

    if calls.cancelled:
        return result(error="interrupted")
    try:
        if job.listed is not None:
            job.xml = source.xml(job.listed)
        domain = parse(job.xml, job.name)
        twin = twin_xml(domain, twin_name(job.index))
        job.notes.extend(f"not judged: {item}" for item in twin.left_out)
        origin, blocks = _source_blocks(source, job, twin.xml)
        if blocks.pop(NVRAM_BLOCK, None) is not None:
            job.notes.append(f"{NVRAM_BLOCK} not judged: the guest's own NVRAM file, which "
                             "must move with it (a new one from the destination's template may "
                             "differ in size)")
        applied = None
        target = twin.xml
        if fix is not None:
            applied = apply_xml(job.xml, fix, job.name)
            target = twin_xml(parse(applied.xml, job.name), twin_name(job.index)).xml
        if calls.cancelled:
            return result(error="interrupted", origin=origin)
        try:
            there = _destination_blocks(destination, target)
        except TwinError as failure:
            return result(error=f"the destination {failure.message}", applied=applied,
                          origin=origin)
        without = None
        if applied is not None and applied.changed:  # needed, or only harmless?
            try:
                without = differing(blocks, _destination_blocks(destination, twin.xml))
            except TwinError as failure:
                job.notes.append(f"without the fix, the destination {failure.message}")
        return result(differing(blocks, there), applied=applied, origin=origin,
                      without=without)
    except (TwinError, ToolError, SourceError) as failure:
        return result(error=failure.message)


def _destination_blocks(destination: Destination, twin: str) -> dict[str, int]:
    there = parse_ramblock(destination.twin_blocks(twin))
    there.pop(NVRAM_BLOCK, None)
    return there


def _source_blocks(source: Host, job: _Job, twin: str) -> tuple[str, dict[str, int]]:
    if job.image_blocks is not None:
        return "image", job.image_blocks
    if job.listed is not None and job.state in ("running", "paused"):
        return "live", parse_ramblock(source.live_blocks(job.listed))
    try:
        return "twin", parse_ramblock(source.twin_blocks(twin))
    except TwinError as failure:
        raise TwinError(f"the source {failure.message}") from None

