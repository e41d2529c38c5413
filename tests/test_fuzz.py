"""Fuzz the ROM parser: whatever the bytes, it returns a Rom or raises RomFormatError, and
nothing else: no IndexError, struct.error, hang or read past the buffer.

"No hang" is enforced twice: hypothesis's deadline fails an example that takes over a second
(parsing 6 KiB takes microseconds), and a SIGALRM stops one that never returns at all.

CI runs a fixed seed with a few thousand examples; for a longer run:
    IPXE_COMPAT_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ipxe_compat.core.rom import parse_rom
from ipxe_compat.errors import RomFormatError
from tests import factory

EXAMPLES = int(os.environ.get("IPXE_COMPAT_FUZZ_EXAMPLES", "2000"))
#: Far above any honest parse of 6 KiB, far below a hang.
DEADLINE = timedelta(seconds=1)
HANG = 5  # seconds: an example still running then never returns
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE, database=None,
                suppress_health_check=[HealthCheck.too_slow])
VALID = factory.efi_rom(1024, 1536, padding=b"\xff" * 512)


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


@seed(881263)
@FUZZ
@given(st.binary(max_size=6144))
def test_random_bytes(data: bytes) -> None:
    parse_or_refuse(data)


@seed(1095073)
@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=12),
       st.integers(0, len(VALID)))
def test_mutated_valid_rom(changes: list[tuple[int, int]], cut: int) -> None:
    """Byte flips in the headers of a real-shaped ROM, and truncations: the interesting cases."""
    data = bytearray(VALID)
    for index, value in changes:
        # aim most changes at the header and PCIR bytes of both images
        data[index % 0x40 if index % 3 else index] = value
        data[1024 + index % 0x40] = value if index % 2 else data[1024 + index % 0x40]
    parse_or_refuse(bytes(data[:cut]))


@seed(2017)
@FUZZ
@given(st.lists(st.sampled_from(["legacy", "efi", "efi-last", "junk"]), min_size=1, max_size=6),
       st.integers(1, 4))
def test_chains_of_images(kinds: list[str], units: int) -> None:
    parts = {"legacy": factory.legacy_image(units * 512),
             "efi": factory.efi_image(units * 512, last=False),
             "efi-last": factory.efi_image(units * 512),
             "junk": bytes(units * 512)}
    parse_or_refuse(b"".join(parts[kind] for kind in kinds))
