"""``verify-migration``: prove with real QEMU builds that a guest started on one host migrates to
another: another QEMU build, another ROM set, or both.

Two modes. With ROM sets FROM and TO, for each ROM of FROM that TO also has (paired by name, TO's
compat prefix stripped) and each NIC model that ROM drives, the source loads the FROM ROM and the
destination the TO ROM (``romfile=`` a copy in a private directory). Without them, each end
loads its own QEMU's installed defaults for every NIC model both QEMUs have that loads a ROM:
the upgraded host as it is, plus the ``-global`` lines of ``qemu-config`` given with
``--to-config`` (or none, to show the failure they fix).

Firmware sets (seabios, ovmf, a firmware compat package) add one case per ``-bios`` and pflash
image of FROM that TO also has: the source boots FROM's image (``-bios FILE``, or the pflash unit
its name gives: code on 0, variables on 1 beside an identical filler on 0), the destination TO's;
a refusal names the block and both sizes (``Size mismatch: pc.bios: 0x200000 != 0x400000``).
A VGA option ROM (``vgabios-stdvga.bin``) runs with each PCI display model both QEMUs have that
loads it (core/devices.py's DISPLAY_ROMFILE), as a NIC ROM does with its NICs.

Nothing is skipped in silence. A file of FROM that TO lacks (unless TO is a compat set, which
carries some files by design) is a case that cannot run, a failure, as ``check`` calls it
``removed``: a guest that uses it cannot start on TO. A file both have that no case covers (a
fw_cfg ROM, which QEMU loads by name from its own directory; a ROM no model of both QEMUs loads;
one ``--device`` leaves out) is named as not tested, with why. ``--to-config`` takes ``-global``
lines only: a ``-bios`` or pflash line is refused, as those images are verified with FROM TO.

Both ends are paused QEMUs (TCG, no disk, no network) of ``--machine`` (default: the source
QEMU's default machine type, versioned: what guests on the old host run). QMP ``migrate`` runs
and the migration counts as completed only once the destination has left ``inmigrate`` and is
still running: a source reporting ``completed`` is not enough, the destination may still refuse
the state ("Size mismatch: ...rom: 0x40000 != 0x80000: ..."), which is then reported.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import compat
from ..core.devices import devices_driven_by, displays_driven_by
from ..core.firmware import FW_CFG_BLOCK_MACHINES, FileClass, block_size, flash_unit
from ..core.names import pair
from ..core.outcome import Outcome, aligned
from ..core.sizes import bucket
from ..errors import UsageError
from ..input import RomFile, RomSet
from ..runner import kill_all
from .discover import (
    QemuFacts,
    incoming_port,
    migration_info,
    probe_qemu,
    qom_text,
    run_state,
)
from .qmp import Qemu, QmpError, find_qemu, private_dir

__all__ = ["Ends", "MigrationCase", "MigrationRequest", "Plan", "Untested", "parse_globals",
           "plan_cases", "plan_installed", "plan_sets", "size_mismatch", "verify_migration"]

POLL = 0.02
#: Asking each QEMU what it is (~1 s) is not a migration: --timeout does not shorten it.
PROBE_TIMEOUT = 60.0
#: QEMU's refusal of a ROM block of another size. The block name is ``<pci addr>/<name>.rom``
#: cut at 31 characters (``0000:00:02.0/virtio-net-pci-non-transitional`` loses its ``.rom``,
#: ne2k_pci's is ``ne2000.rom``): match it, never build it.
SIZE_MISMATCH = re.compile(r"Size mismatch: (?P<block>\S+): 0x(?P<source>[0-9a-fA-F]+) != "
                           r"0x(?P<destination>[0-9a-fA-F]+)")
#: The DEVICE a firmware case is reported (and chosen with --device) as.
BIOS_CASE = "-bios"
PFLASH_CASES = ("pflash0", "pflash1")
FIRMWARE_CASES = (BIOS_CASE, *PFLASH_CASES)
#: The DEVICE of a case for a file TO lacks that no model or firmware case runs (a fw_cfg ROM).
NO_DEVICE = "-"
_GLOBAL = re.compile(r"-global\s+([A-Za-z0-9_.-]+\.[A-Za-z0-9_-]+=[A-Za-z0-9_.,+/-]+)")


@dataclass(frozen=True)
class Ends:
    """The two QEMU builds, the machine type, and the destination's extra -global values."""

    source: QemuFacts
    destination: QemuFacts
    machine: str
    to_globals: tuple[str, ...] = ()


@dataclass(frozen=True)
class MigrationCase:
    device: str
    source: RomFile | None  # None: the source QEMU's installed default
    target: RomFile | None  # None: the destination's default (with --to-config's -global)

    @property
    def missing(self) -> bool:
        """FROM's file has no partner in TO: the case cannot run (the guest cannot start)."""
        return self.source is not None and self.target is None


@dataclass(frozen=True)
class Untested:
    """A file of FROM that no case covers, and why."""

    rom: RomFile
    reason: str


@dataclass(frozen=True)
class Plan:
    """What FROM TO verify: the cases to run (and those that cannot), and the files left out."""

    cases: tuple[MigrationCase, ...]
    untested: tuple[Untested, ...] = ()


@dataclass(frozen=True)
class MigrationResult:
    case: MigrationCase
    status: str  # "completed", "failed", "blocked", "timeout" or "error"
    error: str | None
    seconds: float
    to_romfile: str | None = None  # what the destination's NIC loaded, read after arrival

    @property
    def ok(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class MigrationRequest:
    """The options of ``verify-migration``, validated together before any QEMU starts."""

    from_qemu: str
    to_qemu: str
    machine: str | None = None
    devices: tuple[str, ...] = ()
    timeout: float = compat.DEFAULT_TIMEOUT
    jobs: int | None = None

    @classmethod
    def of(cls, from_qemu: str, to_qemu: str, machine: str | None = None,
           devices: Sequence[str] = (), timeout: float = compat.DEFAULT_TIMEOUT,
           jobs: int | None = None) -> MigrationRequest:
        compat.check_timeout(timeout)
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs {jobs} is not a positive number")
        return cls(from_qemu, to_qemu, machine, tuple(devices), timeout, jobs)


def verify_migration(sets: tuple[RomSet, RomSet] | None, request: MigrationRequest,
                     to_config: str | None = None) -> Outcome:
    """``verify-migration [FROM TO]``: every migration run; each that does not complete is a
    problem. Without ROM sets (None), each end uses its QEMU's installed ROMs."""
    to_globals = parse_globals(to_config) if to_config is not None else ()
    source_facts = probe_qemu(find_qemu(request.from_qemu), PROBE_TIMEOUT)
    target_facts = (source_facts if request.to_qemu == request.from_qemu
                    else probe_qemu(find_qemu(request.to_qemu), PROBE_TIMEOUT))
    chosen = source_facts.machine(request.machine or source_facts.default_machine)
    target_facts.machine(chosen)
    ends = Ends(source_facts, target_facts, chosen, to_globals)
    if sets is not None:
        _files_visible(ends)
        plan = plan_sets(*sets, request.devices, ends)
    else:
        plan = Plan(tuple(plan_installed(request.devices, ends)))
    results = verify(ends, plan.cases, request.timeout, request.jobs)
    problems = tuple(_problem(r) for r in results if not r.ok)
    return Outcome(results_json(ends, results, plan.untested),
                   results_table(ends, results, plan.untested), problems)


def _problem(result: MigrationResult) -> str:
    if result.case.missing and result.case.source is not None:
        return (f"{result.case.device}: {result.case.source.location}: cannot run: "
                f"{result.error}")
    return (f"{_label(result.case)}: migration {result.status}: {result.error}"
            f"{_sizes(result.error)}")


def _files_visible(ends: Ends) -> None:
    """FROM and TO ROMs reach QEMU as copies in this machine's TMPDIR: both QEMUs must see it
    (docs/cli.md, "QEMU commands anywhere"); exit 2 naming the one that does not."""
    for facts in (ends.source, ends.destination):
        if not facts.sees_tmpdir:
            raise UsageError(
                f"{facts.label} does not see this machine's TMPDIR ({tempfile.gettempdir()}), "
                "where FROM and TO files are given to QEMU: run it where it does (e.g. "
                "bind-mount that directory into its root at the same path) or verify the "
                "installed ROMs (no FROM TO)")


def parse_globals(text: str) -> tuple[str, ...]:
    """The ``TYPE.PROP=VALUE`` of each ``-global`` line of ``qemu-config --format args``; any
    other line is refused (only -global reaches the destination)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.split()[0] in ("-bios", "-drive"):
            raise UsageError(f"--to-config line {number} names a -bios or pflash image "
                             f"({line.strip()[:80]!r}): --to-config applies -global lines only; "
                             "verify firmware images with FROM TO (the original package and the "
                             "compat package)")
        match = _GLOBAL.fullmatch(line.strip())
        if match is None:
            raise UsageError(f"--to-config line {number} is not '-global TYPE.PROP=VALUE': "
                             f"{line.strip()[:80]!r}")
        found.append(match.group(1))
    return tuple(found)


def _common_nics(ends: Ends) -> set[str]:
    return set(ends.source.nics.defaults) & set(ends.destination.nics.defaults)


def _common_displays(ends: Ends) -> set[str]:
    return set(ends.source.displays) & set(ends.destination.displays)


def _check_devices(devices: Sequence[str], known: set[str], what: str) -> None:
    unknown = [d for d in devices if d not in known]
    if unknown:
        raise UsageError(f"unknown device model(s) {', '.join(unknown)} ({what}: "
                         f"{', '.join(sorted(known, key=str.lower))})")


def plan_cases(
    source: RomSet, target: RomSet, devices: Sequence[str], ends: Ends
) -> list[MigrationCase]:
    """Every (device, FROM ROM, TO ROM) to try; ``devices`` restricts the models."""
    return list(plan_sets(source, target, devices, ends).cases)


def plan_sets(source: RomSet, target: RomSet, devices: Sequence[str], ends: Ends) -> Plan:
    """The cases of FROM TO (``devices`` restricts them), those that cannot run as TO lacks the
    file, and the files no case covers, with why (see the module's docstring)."""
    nics, displays = _common_nics(ends), _common_displays(ends)
    _check_devices(devices, nics | displays | set(FIRMWARE_CASES),
                   "NIC and display models loading a ROM on both QEMUs, and firmware cases")
    from_by, to_by = source.by_name(), target.by_name()
    carried_only = compat.is_compat_set(to_by)
    cases: list[MigrationCase] = []
    untested: list[Untested] = []
    for from_name, to_name in pair(from_by, to_by):
        if from_name is None or (to_name is None and carried_only):
            continue  # nothing to migrate from; a file the compat set does not carry
        rom = from_by[from_name]
        partner = to_by[to_name] if to_name is not None else None
        possible = _devices_of(rom, ends, nics, displays)
        chosen = [d for d in possible if not devices or d in devices]
        if not possible and partner is None and not devices:
            chosen = [NO_DEVICE]  # a fw_cfg ROM TO lacks: still a failure
        cases += [MigrationCase(device, rom, partner) for device in chosen]
        if not chosen:
            untested.append(Untested(rom, _why_untested(rom, possible, partner)))
    if not cases:
        raise UsageError("no file of FROM has a partner in TO for the chosen NIC or display "
                         "models or firmware (-bios and pflash images)")
    return Plan(tuple(sorted(cases, key=lambda c: (c.device, c.source.name if c.source else ""))),
                tuple(untested))


def _devices_of(rom: RomFile, ends: Ends, nics: set[str], displays: set[str]) -> list[str]:
    """What a file of FROM runs as: its firmware case, or the NIC and display models of both
    QEMUs that load it (a compat name as its original)."""
    firmware = firmware_case(rom.kind, rom.name)
    if firmware is not None:
        return [firmware]
    if rom.kind is not FileClass.OPTION_ROM:
        return []
    return ([d for d in devices_driven_by(rom.name, ends.source.nics.defaults) if d in nics]
            + [d for d in displays_driven_by(rom.name) if d in displays])


def _why_untested(rom: RomFile, possible: Sequence[str], partner: RomFile | None) -> str:
    if possible:
        return "not chosen by --device" + ("" if partner is not None else " (TO lacks it)")
    if rom.kind is FileClass.GENROM:
        return (f"fw_cfg option ROM: QEMU loads it by name from its own directory, and migrates "
                f"it as a RAM block only on {', '.join(FW_CFG_BLOCK_MACHINES)}")
    return "no NIC or display model of both QEMUs loads it"


def firmware_case(kind: FileClass, name: str) -> str | None:
    """The case a -bios or pflash image is run as; None for other classes."""
    if kind is FileClass.BIOS:
        return BIOS_CASE
    if kind is FileClass.PFLASH:
        return PFLASH_CASES[flash_unit(name)]
    return None


def plan_installed(devices: Sequence[str], ends: Ends) -> list[MigrationCase]:
    """One case per NIC model both QEMUs have that loads a ROM by default."""
    nics = _common_nics(ends)
    _check_devices(devices, nics, "installed-ROMs mode runs the NIC models loading a ROM on both "
                   "QEMUs")
    return [MigrationCase(d, None, None) for d in sorted(set(devices) or nics)]


def verify(ends: Ends, cases: Sequence[MigrationCase], timeout: float = compat.DEFAULT_TIMEOUT,
           jobs: int | None = None) -> list[MigrationResult]:
    """Run every case, up to ``jobs`` at once (default: the number of CPUs)."""
    cancel = threading.Event()
    workers = max(1, min(jobs or os.cpu_count() or 1, len(cases)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(migrate, ends, case, timeout, cancel) for case in cases]
        try:
            return [future.result() for future in futures]
        except BaseException:
            cancel.set()  # Ctrl-C or SIGTERM: the workers stop polling,
            kill_all()  # and a QMP read waiting on a QEMU ends now, not at its timeout
            raise


def migrate(ends: Ends, case: MigrationCase, timeout: float = compat.DEFAULT_TIMEOUT,
            cancel: threading.Event | None = None) -> MigrationResult:
    """One migration of a paused guest with ``case.device``; none for a case TO lacks the
    file of."""
    if case.missing and case.source is not None:
        return MigrationResult(case, "missing", f"TO has no {case.source.name}: a guest that "
                               "uses it cannot start there", 0.0)
    start = time.monotonic()
    workdir = private_dir()
    to_romfile = None
    try:
        source_args = _device(case.device, case.source, workdir / "from.rom")
        target_args = _device(case.device, case.target, workdir / "to.rom")
        target_args += [w for g in ends.to_globals for w in ("-global", g)]
        status, error, to_romfile = _run(ends, source_args, target_args, workdir, timeout, cancel,
                                         nic=case.device not in FIRMWARE_CASES)
    except QmpError as failure:
        status, error = "error", failure.message
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return MigrationResult(case, status, error, time.monotonic() - start, to_romfile)


def _device(model: str, rom: RomFile | None, path: Path) -> list[str]:
    if rom is None:
        return ["-device", f"{model},id=nic"]
    path.write_bytes(rom.data)
    if model == BIOS_CASE:
        return ["-bios", str(path)]
    if model in PFLASH_CASES:
        drive = "if=pflash,format=raw,readonly=on,unit={},file={}"
        if model == PFLASH_CASES[0]:
            return ["-drive", drive.format(0, path)]
        filler = path.with_name(f"{path.name}.unit0")  # the same 64 KiB at both ends
        filler.write_bytes(bytes(64 << 10))
        return ["-drive", drive.format(0, filler), "-drive", drive.format(1, path)]
    return ["-device", f"{model},id=nic,romfile={path}"]


def _run(ends: Ends, source_args: list[str], target_args: list[str], workdir: Path,
         timeout: float, cancel: threading.Event | None,
         nic: bool = True) -> tuple[str, str | None, str | None]:
    deadline = time.monotonic() + timeout
    machine = ["-machine", ends.machine]
    incoming = [*machine, *target_args, "-incoming", "defer"]
    with Qemu(ends.destination.command, workdir, "to", incoming, timeout) as target, \
            Qemu(ends.source.command, workdir, "from", [*machine, *source_args],
                 timeout) as source:
        uri = _listen(ends, target, workdir)
        try:
            source.command("migrate", uri=uri)
        except QmpError as refused:  # "State blocked by non-migratable device ..."
            return "blocked", refused.message.removeprefix("QMP migrate failed: "), None
        while True:
            info = migration_info(source.command("query-migrate"))
            status = info.status
            if target.exited() is not None or status in ("failed", "cancelled"):
                target.exited(wait=5)  # the destination prints why, then exits
                return "failed", target.error_line() or info.error or status, None
            if status == "completed" and _arrived(target):
                romfile = qom_text(target.command(
                    "qom-get", path="/machine/peripheral/nic", property="romfile"),
                    "the NIC's romfile") if nic else None
                return "completed", None, romfile
            if cancel is not None and cancel.is_set():
                return "error", "interrupted", None
            if time.monotonic() > deadline:
                return "timeout", f"migration still {status} after {timeout} s", None
            time.sleep(POLL)


def _listen(ends: Ends, target: Qemu, workdir: Path) -> str:
    """Make the destination listen; the URI the source migrates to. A unix socket in the private
    directory when both QEMUs see it (nobody else can connect to it); otherwise TCP on
    127.0.0.1 at a port the destination picks, for QEMUs in chroots or containers that share
    this machine's network namespace but not its /tmp (docs/cli.md, "QEMU commands anywhere").
    """
    if ends.source.sees_tmpdir and ends.destination.sees_tmpdir:
        uri = f"unix:{workdir / 'migration.sock'}"
        target.command("migrate-incoming", uri=uri)
        return uri
    target.command("migrate-incoming", uri="tcp:127.0.0.1:0")
    return f"tcp:127.0.0.1:{incoming_port(target.command('query-migrate'))}"


def _arrived(target: Qemu) -> bool:
    """The destination loaded the whole state: it left ``inmigrate`` and is still up."""
    try:
        return run_state(target.command("query-status")) != "inmigrate"
    except QmpError:
        return False


def size_mismatch(error: str | None) -> dict[str, Any] | None:
    """QEMU's Size mismatch as data: the RAM block and the source's and destination's sizes."""
    match = SIZE_MISMATCH.search(error or "")
    if match is None:
        return None
    return {"block": match["block"], "source_size": int(match["source"], 16),
            "destination_size": int(match["destination"], 16)}


def _sizes(error: str | None) -> str:
    """QEMU's refusal in bytes: `` (block pc.bios: 2097152 -> 4194304 bytes)``."""
    found = size_mismatch(error)
    if found is None:
        return ""
    return (f" (block {found['block']}: {found['source_size']} -> "
            f"{found['destination_size']} bytes)")


def _label(case: MigrationCase) -> str:
    if case.source is None or case.target is None:
        return case.device
    return f"{case.device}: {case.source.name} -> {case.target.name}"


def _rom_json(rom: RomFile | None, prefix: str) -> dict[str, Any]:
    if rom is None:
        return {f"{prefix}_rom": None, f"{prefix}_size": None, f"{prefix}_bucket": None}
    block = block_size(rom.kind, rom.size) if rom.kind is not FileClass.OPTION_ROM else None
    return {f"{prefix}_rom": rom.name, f"{prefix}_size": rom.size,
            f"{prefix}_bucket": block if block is not None else bucket(rom.size)}


def _qemu_json(facts: QemuFacts) -> dict[str, Any]:
    return {"command": list(facts.command), "version": facts.version}


def results_json(ends: Ends, results: Sequence[MigrationResult],
                 untested: Sequence[Untested] = ()) -> dict[str, Any]:
    return {
        "source_qemu": _qemu_json(ends.source),
        "destination_qemu": _qemu_json(ends.destination),
        "machine": ends.machine,
        "destination_globals": list(ends.to_globals),
        "migrations": [
            {"device": r.case.device, **_rom_json(r.case.source, "from"),
             **_rom_json(r.case.target, "to"), "destination_romfile": r.to_romfile,
             "status": r.status, "error": r.error, "size_mismatch": size_mismatch(r.error),
             "seconds": round(r.seconds, 3)}
            for r in results
        ],
        "not_tested": [{"name": u.rom.name, "class": u.rom.kind.value, "reason": u.reason}
                       for u in untested],
        "summary": {"completed": sum(r.ok for r in results),
                    # each case counted once: a missing one is no failed migration
                    "failed": sum(not r.ok and not r.case.missing for r in results),
                    "missing": sum(r.case.missing for r in results),
                    "not_tested": len(untested)},
    }


def _rom_cell(rom: RomFile | None, default: str) -> str:
    return f"{rom.name} ({rom.size})" if rom is not None else default


def _destination_romfile(ends: Ends, result: MigrationResult) -> str:
    """The ROM the destination's NIC loaded: as read after the guest arrived, else what it was
    given, i.e. the last ``-global`` of --to-config that reaches the model (its own type or its
    family's), else its QEMU's default. A failed migration is reported with the file, too."""
    if result.to_romfile is not None:
        return result.to_romfile
    if result.case.missing:
        return "-"
    device = result.case.device
    nics = ends.destination.nics
    reaching = {device}
    if device in nics.defaults:
        reaching.add(nics.family_of(device).driver)
    given = [value for driver, prop, value in (_split_global(g) for g in ends.to_globals)
             if driver in reaching and prop == "romfile"]
    return given[-1] if given else nics.defaults.get(device, "its default")


def _split_global(text: str) -> tuple[str, str, str]:
    """``TYPE.PROP=VALUE`` (as :func:`parse_globals` kept it) as its three parts."""
    target, _, value = text.partition("=")
    driver, _, prop = target.rpartition(".")
    return driver, prop, value


def results_table(ends: Ends, results: Sequence[MigrationResult],
                  untested: Sequence[Untested] = ()) -> str:
    """The text report: per migration the ROM file at each end (with its size where the file is
    ours) and the result; then the files no case covers, by why."""
    header = ["DEVICE", "FROM", "TO", "RESULT"]
    rows = [[r.case.device,
             _rom_cell(r.case.source, ends.source.nics.defaults.get(r.case.device, "its default")),
             _rom_cell(r.case.target, _destination_romfile(ends, r)),
             r.status if r.ok else f"{r.status}: {r.error}"] for r in results]
    completed = sum(r.ok for r in results)
    top = (f"from {ends.source.label}\nto   {ends.destination.label}"
           + "".join(f" -global {g}" for g in ends.to_globals)
           + f"\nmachine {ends.machine}\n\n")
    missing = sum(r.case.missing for r in results)
    footer = f"{completed} of {len(results)} migrations completed" + (
        f" ({missing} cannot run: TO lacks the file)" if missing else "") + "\n"
    reasons: dict[str, list[str]] = {}
    for entry in untested:
        reasons.setdefault(entry.reason, []).append(entry.rom.name)
    footer += "".join(f"not tested: {', '.join(names)}: {reason}\n"
                      for reason, names in sorted(reasons.items()))
    return top + aligned(header, rows) + footer
