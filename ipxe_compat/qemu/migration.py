"""``verify-migration``: prove with a real QEMU that a guest started with one ROM migrates to a
host with another.

For each ROM of FROM that TO also has (paired by name, TO's compat prefix stripped), and each NIC
model that ROM drives, two paused QEMUs (TCG, no disk, no network) are started in a private
temporary directory: the source with the FROM ROM, the destination with the TO ROM and
``-incoming unix:``. QMP ``migrate`` runs, ``query-migrate`` is polled, and the result is
``completed`` or QEMU's own error line ("Size mismatch: ...rom: 0x40000 != 0x80000: ...").
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.devices import DEFAULT_ROMFILE, devices_driven_by
from ..core.names import pair
from ..core.outcome import Outcome, aligned
from ..core.sizes import bucket
from ..errors import UsageError
from ..input import RomFile, RomSet
from .qmp import Qemu, QmpError, find_qemu, private_dir

__all__ = ["verify_migration"]

POLL = 0.02


@dataclass(frozen=True)
class MigrationCase:
    device: str
    source: RomFile
    target: RomFile


@dataclass(frozen=True)
class MigrationResult:
    case: MigrationCase
    status: str  # "completed", "failed", "timeout" or "error"
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def verify_migration(source: RomSet, target: RomSet, binary: str, devices: Sequence[str] = (),
                     timeout: float = 30.0, jobs: int | None = None) -> Outcome:
    """``verify-migration FROM TO``: every migration run; each that does not complete is a
    problem."""
    results = verify(binary, plan_cases(source, target, devices), timeout, jobs)
    problems = tuple(f"{r.case.device}: {r.case.source.name} -> {r.case.target.name}: "
                     f"migration {r.status}: {r.error}" for r in results if not r.ok)
    return Outcome(results_json(results), results_table(results), problems)


def plan_cases(source: RomSet, target: RomSet, devices: Sequence[str] = (),
               table: dict[str, str] = DEFAULT_ROMFILE) -> list[MigrationCase]:
    """Every (device, FROM ROM, TO ROM) to try; ``devices`` restricts the models."""
    unknown = [d for d in devices if d not in table]
    if unknown:
        raise UsageError(f"unknown NIC model(s) {', '.join(unknown)}; known: {', '.join(table)}")
    from_by, to_by = source.by_name(), target.by_name()
    cases = []
    for from_name, to_name in pair(from_by, to_by):
        if from_name is None or to_name is None:
            continue
        for device in devices_driven_by(from_name, table):
            if not devices or device in devices:
                cases.append(MigrationCase(device, from_by[from_name], to_by[to_name]))
    if not cases:
        raise UsageError("no ROM of FROM has a partner in TO for the chosen NIC models")
    return cases


def verify(binary: str, cases: Sequence[MigrationCase], timeout: float = 30.0,
           jobs: int | None = None) -> list[MigrationResult]:
    """Run every case, up to ``jobs`` at once (default: the number of CPUs)."""
    path = find_qemu(binary)
    cancel = threading.Event()
    workers = max(1, min(jobs or os.cpu_count() or 1, len(cases)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(migrate, path, case, timeout, cancel) for case in cases]
        try:
            return [future.result() for future in futures]
        except BaseException:
            cancel.set()  # Ctrl-C or SIGTERM: the workers stop polling and reap their QEMUs
            raise


def migrate(binary: str, case: MigrationCase, timeout: float = 30.0,
            cancel: threading.Event | None = None) -> MigrationResult:
    """One migration of a paused guest with ``case.device`` from the FROM ROM to the TO ROM."""
    start = time.monotonic()
    workdir = private_dir()
    try:
        from_rom, to_rom = workdir / "from.rom", workdir / "to.rom"
        from_rom.write_bytes(case.source.data)
        to_rom.write_bytes(case.target.data)
        status, error = _run(binary, case.device, from_rom, to_rom, workdir, timeout, cancel)
    except QmpError as failure:
        status, error = "error", failure.message
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return MigrationResult(case, status, error, time.monotonic() - start)


def _run(binary: str, device: str, from_rom: Path, to_rom: Path, workdir: Path, timeout: float,
         cancel: threading.Event | None) -> tuple[str, str | None]:
    sock = workdir / "migration.sock"
    deadline = time.monotonic() + timeout
    incoming = ["-device", f"{device},romfile={to_rom}", "-incoming", f"unix:{sock}"]
    with Qemu(binary, workdir, "to", incoming, timeout) as target, \
            Qemu(binary, workdir, "from", ["-device", f"{device},romfile={from_rom}"], timeout) as source:
        while not sock.exists():
            if time.monotonic() > deadline:
                return "timeout", "the destination never listened for the migration"
            time.sleep(POLL)
        source.command("migrate", uri=f"unix:{sock}")
        while True:
            info: dict[str, Any] = source.command("query-migrate")
            status = info.get("status")
            if status == "completed":
                return "completed", None
            if status in ("failed", "cancelled"):
                target.exited(wait=5)  # the destination prints why, then exits
                return "failed", target.error_line() or info.get("error-desc") or status
            if cancel is not None and cancel.is_set():
                return "error", "interrupted"
            if time.monotonic() > deadline:
                return "timeout", f"migration still {status} after {timeout} s"
            time.sleep(POLL)


def results_json(results: Sequence[MigrationResult]) -> dict[str, Any]:
    return {
        "migrations": [
            {"device": r.case.device, "from_rom": r.case.source.name, "from_size": r.case.source.size,
             "from_bucket": bucket(r.case.source.size), "to_rom": r.case.target.name,
             "to_size": r.case.target.size, "to_bucket": bucket(r.case.target.size),
             "status": r.status, "error": r.error, "seconds": round(r.seconds, 3)}
            for r in results
        ],
        "summary": {"completed": sum(r.ok for r in results),
                    "failed": sum(not r.ok for r in results)},
    }


def results_table(results: Sequence[MigrationResult]) -> str:
    header = ["DEVICE", "FROM", "TO", "RESULT"]
    rows = [[r.case.device, f"{r.case.source.name} ({r.case.source.size})",
             f"{r.case.target.name} ({r.case.target.size})",
             r.status if r.ok else f"{r.status}: {r.error}"] for r in results]
    completed = sum(r.ok for r in results)
    return aligned(header, rows) + f"{completed} of {len(results)} migrations completed\n"
