#!/usr/bin/env python3
"""ipxe-compat benchmark: real packages, alternating runs, medians, peak RSS, ratios.

    .venv/bin/python bench/bench.py            # the table (a few minutes; docs/performance.md)
    .venv/bin/python bench/bench.py --smoke    # one quick round: checks that everything runs

Measured side by side in one run, alternating so that drift hits both sides alike:
- generate on Debian's bookworm ipxe-qemu vs the bare shell floor (dpkg-deb | tar, cp + pad,
  tar | xz -6: the same orig tarball content and xz preset);
- --help and inspect of one ROM vs a minimal click program in the same venv;
- check of two real .debs (bookworm vs sid);
- scale: a synthetic package with 64 ROMs and a large data member of other files.
Peak RSS comes from wait4() of each child. No assertion anywhere: figures only.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ipxe_compat.input import read_source
from tests import archive, factory  # the repository's own helpers

PY = sys.executable
ENV = {**os.environ, "DEBFULLNAME": "Bench", "DEBEMAIL": "bench@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}

FLOOR = r"""
set -e
work=$1; deb=$2
mkdir -p "$work/x" "$work/top"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" ./usr/lib/ipxe/qemu
for rom in "$work"/x/usr/lib/ipxe/qemu/efi-*.rom; do
    out="$work/top/256k-$(basename "$rom")"
    cp "$rom" "$out"
    pad=$((262144 - $(stat -c %s "$rom")))
    head -c "$pad" /dev/zero | tr '\0' '\377' >> "$out"
done
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner -c top |
    xz -6 -T1 > "$work/orig.tar.xz"
"""


def run(argv: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}): {err}")
    if proc.stderr:
        proc.stderr.close()
    return seconds, usage.ru_maxrss


def compare(pairs: dict[str, tuple[list[str], Path]], rounds: int) -> dict[str, tuple[float, int]]:
    """Median seconds and max peak RSS of each command, run alternately ``rounds`` times."""
    times: dict[str, list[float]] = {name: [] for name in pairs}
    peaks: dict[str, int] = dict.fromkeys(pairs, 0)
    for _ in range(rounds):
        for name, (argv, cwd) in pairs.items():
            for leftover in cwd.glob("out*"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            seconds, peak = run(argv, cwd)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    return {name: (statistics.median(times[name]), peaks[name]) for name in pairs}


def big_package(path: Path, other_mib: int, roms: int) -> None:
    """A package with ``roms`` efi ROMs and ``other_mib`` MiB of other (incompressible-ish) files,
    uncompressed, streamed to disk so building it costs no memory."""
    with open(path.with_suffix(".tar"), "wb") as raw, \
            tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        block = os.urandom(1 << 20)
        for i in range(other_mib):
            info = tarfile.TarInfo(f"./usr/share/ipxe/blob{i:04d}.bin")
            info.size = len(block)
            tar.addfile(info, io.BytesIO(block))
        for i in range(roms):
            rom = factory.efi_rom(1024 * (1 + i % 8), 4096, device=0x1000 + i)
            info = tarfile.TarInfo(f"./usr/share/qemu/efi-nic{i:02d}.rom")
            info.size = len(rom)
            tar.addfile(info, io.BytesIO(rom))
        doc = factory.COPYRIGHT.encode()
        info = tarfile.TarInfo("./usr/share/doc/ipxe-qemu/copyright")
        info.size = len(doc)
        tar.addfile(info, io.BytesIO(doc))
    data = path.with_suffix(".tar")
    control = factory.compress(factory.tar_bytes({"control": (
        b"Package: ipxe-qemu\nVersion: 1.0-1\nSource: ipxe\nArchitecture: all\n")}), "gz")
    head = factory.ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", control)])
    size = data.stat().st_size
    with open(path, "wb") as out, open(data, "rb") as src:
        out.write(head)
        out.write(f"{'data.tar':<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{size:<10}`\n".encode())
        shutil.copyfileobj(src, out, 1 << 20)
        if size % 2:
            out.write(b"\n")
    data.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one quick round, small scale test")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    rounds = 1 if args.smoke else args.rounds
    bookworm, sid = archive.fetch(archive.BOOKWORM_VERSION), archive.fetch(archive.SID_VERSION)
    # the console script, as users run it (python -m adds runpy's cost)
    ipxe_compat = [str(Path(PY).parent / "ipxe-compat")]
    with tempfile.TemporaryDirectory(prefix="ipxe-compat-bench-") as tmp:
        work = Path(tmp)
        dirs = {name: work / name for name in ("gen", "floor", "a", "b", "c", "d", "e", "big")}
        for d in dirs.values():
            d.mkdir()
        floor_script = work / "floor.sh"
        floor_script.write_text(FLOOR)
        rom = dirs["a"] / "efi-virtio.rom"
        rom.write_bytes(next(r.data for r in read_source(str(bookworm))[1]
                             if r.name == "efi-virtio.rom"))
        results = {}
        results.update(compare({
            "generate (bookworm .deb)": ([*ipxe_compat, "generate", str(bookworm), "-o", "out"],
                                         dirs["gen"]),
            "shell floor (dpkg-deb|tar, pad, tar|xz -6)": (["sh", str(floor_script), "out",
                                                            str(bookworm)], dirs["floor"]),
        }, rounds))
        results.update(
            compare(
                {
                    "ipxe-compat --help": ([*ipxe_compat, "--help"], dirs["b"]),
                    "minimal click --help": (
                        [PY, str(REPO / "bench/minimal_click.py"), "--help"],
                        dirs["b"],
                    ),
                    "ipxe-compat inspect one ROM": ([*ipxe_compat, "inspect", str(rom)], dirs["c"]),
                    "minimal click inspect one ROM": (
                        [PY, str(REPO / "bench/minimal_click.py"), "inspect", str(rom)],
                        dirs["c"],
                    ),
                },
                rounds * 2,
            )
        )
        results.update(compare({
            "check bookworm.deb sid.deb": ([*ipxe_compat, "check", str(bookworm), str(sid)],
                                           dirs["d"]),
        }, rounds))
        big_mib = 8 if args.smoke else 200
        big = dirs["big"] / "big.deb"
        big_package(big, big_mib, 64)
        results.update(compare({
            f"generate 64 ROMs + {big_mib} MiB other files": (
                [*ipxe_compat, "generate", str(big), "-o", "out", "--size", "64k"], dirs["e"]),
        }, 1 if args.smoke else 3))

    def ratio(a: str, b: str) -> str:
        return f"{results[a][0] / results[b][0]:.2f}x"

    width = max(len(name) for name in results)
    print(f"{'command':<{width}}  {'median s':>8}  {'peak RSS':>9}")
    for name, (seconds, peak) in results.items():
        print(f"{name:<{width}}  {seconds:>8.3f}  {peak / 1024:>6.1f} MiB")
    print()
    print(
        "generate / shell floor:           "
        f"{ratio('generate (bookworm .deb)', 'shell floor (dpkg-deb|tar, pad, tar|xz -6)')}"
        "  (target <= 1.2x)"
    )
    print(
        "--help / minimal click --help:    "
        f"{ratio('ipxe-compat --help', 'minimal click --help')}  (target <= 1.3x)"
    )
    print(
        "inspect / minimal click inspect:  "
        f"{ratio('ipxe-compat inspect one ROM', 'minimal click inspect one ROM')}"
    )
    print(
        "check of two real .debs:          "
        f"{results['check bookworm.deb sid.deb'][0]:.3f} s  (target < 0.25 s)"
    )
    print(
        f"({rounds} alternating rounds, medians; {os.cpu_count()} CPUs; "
        f"python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
