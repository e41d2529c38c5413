#!/usr/bin/env python3
"""preflight's speed: N running guests on a bookworm host (libvirt 9.0, QEMU 7.2) against one
trixie destination (libvirt 11.3, QEMU 10.0), each a session libvirtd in a cached root; the
destination as its libvirt URI (--to-uri) and as its QEMU command (--to-qemu, the root's prefix).

    .venv/bin/python bench/preflight.py             # 20 guests, jobs 1, 2, 4 and the default
    .venv/bin/python bench/preflight.py -n 5 --rounds 1 --to qemu

The guests differ (machine type and NIC models rotate), so no twin answers for another. Each
run is the real command line (`ipxe-compat preflight -c SOURCE --to-uri DEST --json -j J`);
figures are medians of the rounds, wall clock. The goal (issue 21): 20 guests in under 10 s on
2 cores. Figures only, no assertion. Needs root (the roots, the daemons as nobody).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.libvirt_session import RootLibvirt, domain_xml
from tests.roots import RootSpec, ensure_root
from tests.test_preflight import GROW_EFI_VIRTIO, LIBVIRT

MODELS = ["virtio", "e1000", "rtl8139", "e1000e", "virtio", "pcnet"]


def compat_deb(work: Path) -> Path:
    """The compat .deb the tests install in the trixie root (same bytes, same root key)."""
    from tests import archive

    env = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
           "SOURCE_DATE_EPOCH": "1700000000", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run([sys.executable, "-m", "ipxe_compat", "generate",
                    str(archive.fetch(archive.BOOKWORM_VERSION)), "-o", str(work),
                    "--distribution", "bookworm"], env=env, check=True, capture_output=True,
                   cwd=REPO)
    (tree,) = work.glob("ipxe-qemu-256k-compat-*/")
    subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env, check=True,
                   capture_output=True)
    (deb,) = work.glob("ipxe-qemu-256k-compat-efi-roms_*_all.deb")
    return deb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20, help="running guests (default 20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2, 4, 0],
                        help="-j values to measure (0: preflight's default)")
    parser.add_argument("--to", choices=("uri", "qemu", "both"), default="both",
                        help="the destination as --to-uri, --to-qemu, or both (default)")
    args = parser.parse_args()
    top = Path(tempfile.mkdtemp(prefix="ipxe-pf-", dir="/tmp"))
    top.chmod(0o755)
    try:
        deb = compat_deb(top / "deb")
        old = ensure_root(RootSpec("bookworm", LIBVIRT))
        new = ensure_root(RootSpec("trixie", LIBVIRT, (deb,), (GROW_EFI_VIRTIO,)))
        with RootLibvirt(old, top / "bw") as source, RootLibvirt(new, top / "tx") as target:
            for i in range(args.n):
                name = f"guest{i:02d}"
                machine = ("pc-i440fx-7.2", "pc-q35-7.2")[i % 2]
                nics = [(MODELS[i % 6], None), (MODELS[(i + 1) % 6], None)]
                path = source.top / "files" / f"{name}.xml"
                path.write_text(domain_xml(name, machine, nics).replace(
                    "</type>\n  </os>", "</type>\n    <boot dev='hd'/>\n  </os>"))
                source.virsh("create", str(path))
            ends = [h.virsh("version").stdout.strip().splitlines()[-1] for h in (source, target)]
            print(f"{args.n} running guests: {ends[0]} -> {ends[1]}")
            destinations = {"uri": ["--to-uri", target.uri],
                            "qemu": ["--to-qemu", shlex.join(new.command(
                                ["qemu-system-x86_64"]))]}
            for to in ("uri", "qemu") if args.to == "both" else (args.to,):
                for jobs in args.jobs:
                    times = []
                    for _ in range(args.rounds):
                        start = time.monotonic()
                        run = subprocess.run(
                            [sys.executable, "-m", "ipxe_compat", "preflight", "-c", source.uri,
                             *destinations[to], "--json",
                             *(["-j", str(jobs)] if jobs else [])],
                            capture_output=True, text=True, check=False)
                        times.append(time.monotonic() - start)
                        summary = json.loads(run.stdout)["summary"]
                    label = f"-j {jobs}" if jobs else "-j default"
                    median = statistics.median(times)
                    print(f"preflight {args.n} guests --to-{to:4} {label:11} median "
                          f"{median:6.2f} s  ({', '.join(f'{t:.2f}' for t in times)})  "
                          f"{summary}")
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
