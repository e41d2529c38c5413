"""Fuzz the ROM parser and the package reader: whatever the bytes, a Rom (DebContents) or a
RomFormatError (a one-line exit-2 refusal), and nothing else: no IndexError, struct.error,
ValueError, hang or read past the buffer. The package reader is fuzzed at its ar layer (member
names, order, sizes that lie) and its tar layer (every header type, octal/base-256/garbage sizes,
PAX records including sizes, mtimes and sparse maps, byte flips, truncation).

"No hang" is enforced twice: hypothesis's deadline fails an example that takes over a second
(parsing 6 KiB takes microseconds), and a SIGALRM stops one that never returns at all.

Each property is two tests with the same fixed seed: a quick run of a few hundred examples in
the fast loop (``test_X``), and the full run of a few thousand under ``slow`` (``test_X_full``),
which CI runs. For a longer run:
    IPXE_COMPAT_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest tests/test_fuzz.py -k full
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ipxe_compat.core.rom import parse_rom
from ipxe_compat.errors import IpxeCompatError, RomFormatError
from ipxe_compat.input.debpkg import ROM_DIRS, read_deb
from tests import factory

EXAMPLES = int(os.environ.get("IPXE_COMPAT_FUZZ_EXAMPLES", "2000"))
#: The fast loop's share of the examples: enough to catch a property broken outright.
QUICK = 10
#: Far above any honest parse of 6 KiB, far below a hang.
DEADLINE = timedelta(seconds=1)
HANG = 5  # seconds: an example still running then never returns
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE, database=None,
                suppress_health_check=[HealthCheck.too_slow])
VALID = factory.efi_rom(1024, 1536, padding=b"\xff" * 512)


Property = Callable[..., None]


def fuzz(seed_value: int, runs: settings,
         *strategies: st.SearchStrategy[object]) -> Callable[[Property], tuple[Property, Property]]:
    """A property as two tests with one seed: the quick one (1/QUICK of the examples) and the
    full one, marked slow."""
    def both(prop: Property) -> tuple[Property, Property]:
        quick = settings(runs, max_examples=max(runs.max_examples // QUICK, 20))
        return (seed(seed_value)(quick(given(*strategies)(prop))),
                pytest.mark.slow(seed(seed_value)(runs(given(*strategies)(prop)))))
    return both


@contextmanager
def no_hang() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"parse_rom did not return within {HANG} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(HANG)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def parse_or_refuse(data: bytes) -> None:
    if not data:  # no ROM at all: unusable input (exit 2), tested in test_rom.py
        return
    try:
        with no_hang():
            rom = parse_rom(data, "fuzz.rom")
    except RomFormatError as error:
        assert error.path == "fuzz.rom" and error.offset is not None
        assert 0 <= error.offset <= max(len(data), 0x1A)
        return
    # a ROM that parses is self-consistent
    assert rom.size == len(data)
    assert rom.chain_end + rom.padding_length == rom.size
    assert all(0 <= image.offset < image.offset + image.length <= rom.size for image in rom.images)
    assert rom.images[-1].last


def random_bytes(data: bytes) -> None:
    parse_or_refuse(data)


test_random_bytes, test_random_bytes_full = fuzz(
    881263, FUZZ, st.binary(max_size=6144))(random_bytes)


def mutated_valid_rom(changes: list[tuple[int, int]], cut: int) -> None:
    """Byte flips in the headers of a real-shaped ROM, and truncations: the interesting cases."""
    data = bytearray(VALID)
    for index, value in changes:
        # aim most changes at the header and PCIR bytes of both images
        data[index % 0x40 if index % 3 else index] = value
        data[1024 + index % 0x40] = value if index % 2 else data[1024 + index % 0x40]
    parse_or_refuse(bytes(data[:cut]))


test_mutated_valid_rom, test_mutated_valid_rom_full = fuzz(
    1095073, FUZZ,
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=12),
    st.integers(0, len(VALID)))(mutated_valid_rom)


def chains_of_images(kinds: list[str], units: int) -> None:
    parts = {"legacy": factory.legacy_image(units * 512),
             "efi": factory.efi_image(units * 512, last=False),
             "efi-last": factory.efi_image(units * 512),
             "junk": bytes(units * 512)}
    parse_or_refuse(b"".join(parts[kind] for kind in kinds))


test_chains_of_images, test_chains_of_images_full = fuzz(
    2017, FUZZ,
    st.lists(st.sampled_from(["legacy", "efi", "efi-last", "junk"]), min_size=1, max_size=6),
    st.integers(1, 4))(chains_of_images)


# --- the package reader: ar members, tar headers, sizes, PAX records ------------------------------


DEB_EXAMPLES = max(EXAMPLES // 2, 50)
DEB_FUZZ = settings(max_examples=DEB_EXAMPLES, deadline=timedelta(seconds=2), database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROM_PATH = "./usr/share/qemu/efi-virtio.rom"
PATHS = [ROM_PATH, "./usr/share/qemu/efi-e1000.rom", "./usr/lib/ipxe/qemu/pxe-a.rom",
         "./usr/share/doc/ipxe-qemu/copyright", "./usr/share/qemu", "./x.rom", "../evil.rom",
         "./usr/share/qemu/../qemu/efi-virtio.rom", ""]
NUMBERS = st.one_of(st.integers(0, 1 << 20).map(str), st.just("1" + "0" * 20),
                    st.just("-1"), st.just("1e20"), st.just("9" * 40), st.text(max_size=8))


def read_or_refuse(data: bytes) -> None:
    """Whatever the bytes: DebContents within the limits, or one clean exit-2 refusal."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".deb") as handle:
        handle.write(data)
        handle.flush()
        try:
            with no_hang():
                contents = read_deb(handle.name)
        except IpxeCompatError as error:
            assert error.exit_code == 2 and error.path == handle.name
            assert "\n" not in str(error) and len(str(error)) < 1000
            return
    assert all(m.path.rsplit("/", 1)[0] in ROM_DIRS and len(m.data) <= 16 << 20
               for m in contents.roms)
    assert len(contents.sha256) == 64


size_fields = st.one_of(
    st.none(),  # the true size
    st.integers(0, 1 << 33).map(lambda n: f"{n:011o}\0".encode()),
    st.integers(0, 1 << 80).map(lambda n: b"\x80" + (n % (1 << 88)).to_bytes(11, "big")),
    st.binary(min_size=12, max_size=12),
)
pax = st.lists(st.tuples(st.sampled_from(["path", "size", "mtime", "linkpath", "comment",
                                          "GNU.sparse.offset", "GNU.sparse.numbytes"]),
                         st.one_of(NUMBERS, st.sampled_from(PATHS))), max_size=4)
entries = st.lists(st.tuples(
    st.sampled_from([b"0", b"\0", b"1", b"2", b"5", b"6", b"x", b"g", b"L", b"K", b"S", b"V"]),
    st.sampled_from(PATHS), st.sampled_from([*PATHS, ""]),
    st.one_of(st.just(factory.efi_rom()), st.binary(max_size=600)), size_fields, pax,
), min_size=1, max_size=6)


def tar_of(
    items: list[tuple[bytes, str, str, bytes, bytes | None, list[tuple[str, str]]]],
) -> bytes:
    out = b""
    for kind, name, link, body, size_field, records in items:
        if records:
            out += factory.pax_header(records)
        data = factory.pax_records(records) if kind in (b"x", b"g") else body
        # the checksum covers a lying size too, so the lie itself is what is tested
        header = factory.tar_header(name, len(data), kind, linkname=link, size_field=size_field)
        out += header + data + bytes(-len(data) % 512)
    return out + factory.TAR_END


def tar_layer(items: list[tuple[bytes, str, str, bytes, bytes | None, list[tuple[str, str]]]],
                   compression: str, cut: int, flips: list[tuple[int, int]]) -> None:
    """Tar headers of every type, lying sizes (octal, base-256, garbage), PAX records (path,
    size, mtime, sparse maps) and byte flips in the data member."""
    deb = bytearray(factory.raw_deb(tar_of(items), compression))
    for index, value in flips:
        deb[index % len(deb)] = value
    read_or_refuse(bytes(deb[:max(cut, 8)]) if cut < len(deb) else bytes(deb))


test_tar_layer, test_tar_layer_full = fuzz(
    14, DEB_FUZZ, entries, st.sampled_from(["", "gz", "xz"]), st.integers(0, 1 << 16),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=3))(tar_layer)


ar_names = st.sampled_from(["debian-binary", "control.tar.gz", "control.tar.xz", "data.tar",
                            "data.tar.xz", "data.tar.zst", "_gpg", "evil", "data.tar.bogus",
                            "debian-binary/", ""])


def ar_layer(members: list[tuple[str, bytes, str | None]], real_parts: bool) -> None:
    """ar member headers: names in and out of dpkg's order, sizes that lie or are not numbers."""
    if real_parts:
        members = [
            ("debian-binary", b"2.0\n", None),
            ("control.tar.gz", factory.control_tar(), None),
            ("data.tar", tar_of([(b"0", ROM_PATH, "", factory.efi_rom(), None, [])]), None),
            *members,
        ]
    out = bytearray(b"!<arch>\n")
    for name, data, size in members:
        size_text = str(len(data)) if size is None else size
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{size_text:<10.10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    read_or_refuse(bytes(out))


test_ar_layer, test_ar_layer_full = fuzz(
    60, DEB_FUZZ,
    st.lists(st.tuples(ar_names, st.one_of(st.just(b"2.0\n"), st.binary(max_size=64)),
                       st.one_of(st.none(), st.text("0123456789 x-", max_size=10))), max_size=5),
    st.booleans())(ar_layer)
