#!/usr/bin/env python3
"""Peak RSS and wall time of ipxe-compat on every hostile input of tests/test_hostile.py.

    .venv/bin/python bench/hostile.py           # every case, then the worst three by time and RSS
    .venv/bin/python bench/hostile.py --big  # also the two 2 GiB-member packages (~40 s to build)

Each case's input is built as the test builds it, in a private directory; ipxe-compat runs in a
fresh child whose peak RSS comes from wait4(). Budget (issue 14): under 300 MB and 2 s each. No
assertion: figures only (the tests assert behaviour, never time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import test_hostile  # the cases themselves, not a copy


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, float, float]:
    """Exit code, seconds and peak RSS (MiB) of one ipxe-compat run in a fresh process.

    Through /usr/bin/time, a small process: Linux keeps a child's peak RSS across exec, so a
    child forked straight from this (large) process would report this process's size."""
    with tempfile.NamedTemporaryFile("r") as out:
        code = subprocess.run(["/usr/bin/time", "-o", out.name, "-f", "%e %M", sys.executable,
                               "-m", "ipxe_compat", *argv], cwd=cwd, env=env, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        seconds, peak_kib = out.read().split()[-2:]
    return code, float(seconds), int(peak_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the 2 GiB-member packages")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only the cases whose id holds TEXT (repeatable)")
    args = parser.parse_args()
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="ipxe-compat-hostile-") as tmp:
        for case in test_hostile.CASES:
            if args.only and not any(text in case.id for text in args.only):
                continue
            work = Path(tmp) / case.id
            work.mkdir()
            argv = case.build(work)
            env = {**os.environ, **test_hostile.ENV, "TMPDIR": str(work), **(case.env or {})}
            code, seconds, peak = measure(argv, work, env)
            rows.append((case.id, code, seconds, peak))
            print(f"{case.id:40} exit {code}  {seconds:5.2f} s  {peak:6.1f} MiB", flush=True)
        if args.big:
            where = Path(tmp) / "big"
            where.mkdir()
            for name, member in (("rom", "./usr/share/qemu/efi-huge.rom"),
                                 ("other", "./usr/share/ipxe/big.bin")):
                deb = where / f"big-{name}.deb"
                test_hostile._sparse_deb(deb, member)
                code, seconds, peak = measure(["inspect", str(deb)], where, dict(os.environ))
                rows.append((f"2gib-{name}-member", code, seconds, peak))
                print(f"{'2gib-' + name + '-member':40} exit {code}  {seconds:5.2f} s  "
                      f"{peak:6.1f} MiB", flush=True)
    print(f"\n{len(rows)} inputs; worst three by time:")
    for row in sorted(rows, key=lambda r: -r[2])[:3]:
        print(f"  {row[0]:40} {row[2]:5.2f} s  {row[3]:6.1f} MiB  (exit {row[1]})")
    print("worst three by peak RSS:")
    for row in sorted(rows, key=lambda r: -r[3])[:3]:
        print(f"  {row[0]:40} {row[2]:5.2f} s  {row[3]:6.1f} MiB  (exit {row[1]})")
    over = [r for r in rows if r[2] >= 2 or r[3] >= 300]
    print(f"over budget (2 s or 300 MiB): {', '.join(r[0] for r in over) or 'none'}")


if __name__ == "__main__":
    main()
