"""check: verdicts, QEMU's bucket edges and romsize, prefix pairing, JSON and table output."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ipxe_compat.check import compare_chain, compare_roms, guard_roms
from ipxe_compat.check.compare import (
    Expectation,
    Verdict,
    compare,
    compare_json,
    compare_table,
    guard,
    parse_expectation,
    qemu_block,
)
from ipxe_compat.errors import SourceError, UsageError
from ipxe_compat.input import Origin, RomFile, RomSet
from tests import factory


def romset(label: str, sizes: dict[str, int]) -> RomSet:
    origin = Origin("dir", label)
    return RomSet(tuple(RomFile(name, b"\xff" * size, 0, name, origin)
                        for name, size in sorted(sizes.items())), (origin,))


def verdicts(old: dict[str, int], new: dict[str, int], **kwargs: object) -> dict[str, str]:
    rows = compare(romset("old", old), romset("new", new), **kwargs)  # type: ignore[arg-type]
    return {row.name: row.verdict.value for row in rows}


@pytest.mark.parametrize(("old", "new", "verdict"), [
    (249344, 262144, "ok"), (262143, 262144, "ok"), (262144, 262145, "breaks-migration"),
    (249344, 300544, "breaks-migration"), (300544, 249344, "breaks-migration"),
    (1, 512, "breaks-migration"), (513, 1024, "ok"),
], ids=["pad-to-exact", "edge-below", "edge-above", "seed-growth", "shrink", "tiny", "1k"])
def test_verdict_follows_the_qemu_bucket(old: int, new: int, verdict: str) -> None:
    assert verdicts({"efi-virtio.rom": old}, {"efi-virtio.rom": new}) == {"efi-virtio.rom": verdict}


def test_removed_and_only_new_and_breaking_first() -> None:
    """A file an upgrade drops is removed (a failure); one a compat set does not carry is
    only-old (tested below)."""
    rows = compare(romset("o", {"a.rom": 100, "gone.rom": 100, "z.rom": 100}),
                   romset("n", {"a.rom": 100, "new.rom": 100, "z.rom": 1000}))
    assert [(r.name, r.verdict) for r in rows] == [
        ("z.rom", Verdict.BREAKS), ("gone.rom", Verdict.REMOVED), ("a.rom", Verdict.OK),
        ("new.rom", Verdict.ONLY_NEW)]


@pytest.mark.parametrize("compat", ["256k-efi-virtio.rom", "compat-256k-efi-virtio.rom"])
def test_compat_names_pair_with_their_originals(compat: str) -> None:
    assert verdicts({"efi-virtio.rom": 249344, "pxe-virtio.rom": 75776},
                    {compat: 262144}) == {"efi-virtio.rom": "ok", "pxe-virtio.rom": "only-old"}
    assert verdicts({compat: 262144}, {"efi-virtio.rom": 300544}) == {
        "efi-virtio.rom": "breaks-migration"}


def test_exact_name_wins_over_prefixed_one() -> None:
    rows = compare(romset("o", {"efi-virtio.rom": 100}),
                   romset("n", {"efi-virtio.rom": 100, "256k-efi-virtio.rom": 262144}))
    assert [(r.name, r.new.name if r.new else None) for r in rows] == [
        ("efi-virtio.rom", "efi-virtio.rom"), ("256k-efi-virtio.rom", "256k-efi-virtio.rom")]
    # the same-named ROM changes bucket: the prefixed old one must not hide that
    rows = compare(romset("o", {"efi-virtio.rom": 300544, "256k-efi-virtio.rom": 262144}),
                   romset("n", {"efi-virtio.rom": 249344}))
    assert [(r.name, r.verdict) for r in rows] == [
        ("efi-virtio.rom", Verdict.BREAKS), ("256k-efi-virtio.rom", Verdict.REMOVED)]


@pytest.mark.parametrize("seed", range(6))
def test_a_tie_is_named_never_decided_by_set_order(seed: int) -> None:
    """Two compat ROMs for one original: which pairs must not depend on hashing (PYTHONHASHSEED)."""
    names = ["512k-efi-virtio.rom", "256k-efi-virtio.rom"]
    new = dict.fromkeys(names if seed % 2 else names[::-1], 262144)
    with pytest.raises(SourceError, match=re.escape(
            "efi-virtio.rom pairs ambiguously with 256k-efi-virtio.rom and 512k-efi-virtio.rom")):
        compare(romset("o", {"efi-virtio.rom": 249344}), romset("n", new))


def test_romsize_pins_the_block() -> None:
    assert verdicts({"e.rom": 249344}, {"e.rom": 300544}, romsize=524288) == {"e.rom": "ok"}
    with pytest.raises(SourceError, match="300544 bytes is too large for ROM size 262144"):
        compare(romset("o", {"e.rom": 249344}), romset("n", {"e.rom": 300544}), romsize=262144)


def test_empty_rom_is_an_error_not_a_bucket() -> None:
    empty = RomFile("e.rom", b"", 0, "e.rom", Origin("rom", "e.rom"))
    with pytest.raises(SourceError, match="empty") as caught:
        qemu_block(empty)
    assert caught.value.exit_code == 2


def test_roms_glob_filters_and_each_must_match() -> None:
    assert verdicts({"efi-a.rom": 1, "pxe-a.rom": 1}, {"efi-a.rom": 1, "pxe-a.rom": 1},
                    globs=("efi-*",)) == {"efi-a.rom": "ok"}
    with pytest.raises(UsageError, match="matches no ROM"):
        verdicts({"efi-a.rom": 1}, {"efi-a.rom": 1}, globs=("nothing*",))
    with pytest.raises(UsageError, match="'typo\\*' matches no ROM"):  # though efi-* matches
        verdicts({"efi-a.rom": 1}, {"efi-a.rom": 1}, globs=("efi-*", "typo*"))


def valid_romset(label: str, sizes: dict[str, int]) -> RomSet:
    """Structurally valid ROMs of the given sizes (compare_roms validates what it compares)."""
    origin = Origin("dir", label)
    rom = factory.efi_rom()
    return RomSet(tuple(RomFile(name, rom + b"\xff" * (size - len(rom)), 0, name, origin)
                        for name, size in sorted(sizes.items())), (origin,))


def test_breaking_rows_are_the_problems() -> None:
    outcome = compare_roms(valid_romset("o", {"efi-virtio.rom": 249344, "efi-e1000.rom": 249856}),
                           valid_romset("n", {"efi-virtio.rom": 300544, "efi-e1000.rom": 262144}))
    assert outcome.problems == (  # the file named as for a -bios or pflash image: NEW's
        "n/efi-virtio.rom: QEMU bucket changes from 256k to 512k, which breaks live migration",)


def test_an_invalid_rom_of_the_right_size_is_a_problem() -> None:
    """The build-time guard must catch a broken build whose size happens to be right."""
    old = valid_romset("o", {"efi-virtio.rom": 262144})
    broken = factory.legacy_image() + factory.efi_image(last=False)  # no last-image bit
    new = RomSet((RomFile("efi-virtio.rom", broken + b"\xff" * (262144 - len(broken)), 0,
                          "efi-virtio.rom", Origin("dir", "n")),), (Origin("dir", "n"),))
    outcome = compare_roms(old, new)
    problem = "n/efi-virtio.rom: offset 0x800: no option ROM signature 55 aa (found ff ff)"
    assert outcome.problems == (problem,)
    guarded = guard_roms(new, [parse_expectation("efi-*.rom=256k")])
    assert guarded.problems == outcome.problems
    assert (outcome.data["old"], outcome.data["new"]) == ("o", "n")


def test_an_invalid_rom_is_invalid_in_the_table_and_the_json() -> None:
    """Exit 1 with errors on stderr must not come with a table and JSON saying ok: the row
    says invalid, the summary counts it, the JSON says why."""
    old = valid_romset("o", {"efi-e1000.rom": 262144, "efi-virtio.rom": 262144})
    good = old.roms[0]
    broken = RomFile("efi-virtio.rom", b"\0\0" + good.data[2:], 0, "efi-virtio.rom",
                     Origin("dir", "n"))
    new = RomSet((replace(good, origin=Origin("dir", "n")), broken), (Origin("dir", "n"),))
    outcome = compare_roms(old, new)
    rows = {row["name"]: row for row in outcome.data["roms"]}
    assert (rows["efi-virtio.rom"]["verdict"], rows["efi-virtio.rom"]["valid"]) == (
        "invalid", False)
    assert rows["efi-virtio.rom"]["errors"] == [
        {"file": "n/efi-virtio.rom", "offset": 0,
         "message": "no option ROM signature 55 aa (found 00 00)"}]
    assert (rows["efi-e1000.rom"]["verdict"], rows["efi-e1000.rom"]["valid"],
            rows["efi-e1000.rom"]["errors"]) == ("ok", True, [])
    assert outcome.data["summary"]["invalid"] == 1 and outcome.data["summary"]["ok"] == 1
    assert not outcome.data["summary"]["breaks_migration"]
    lines = outcome.text.splitlines()
    assert lines[1].startswith("!!  efi-virtio.rom") and lines[1].endswith("invalid")
    assert lines[-1] == "2 ROMs: 1 ok, 0 breaks-migration, 0 removed, 0 only-old, 0 only-new, " \
                        "1 invalid"
    chain = compare_chain([old, new, new])
    assert chain.data["invalid"] and not chain.data["breaks_migration"]
    # a row that breaks migration keeps that verdict, and says its file is invalid too
    grown = RomSet((replace(broken, data=broken.data + b"\xff" * 4096),), (Origin("dir", "n"),))
    row = compare_roms(old, grown, ["efi-virtio.rom"]).data["roms"][0]
    assert (row["verdict"], row["valid"]) == ("breaks-migration", False)
    # guard mode: no "ok" for it either
    guarded = guard_roms(new, [parse_expectation("efi-*.rom=256k")])
    assert [(r["name"], r["ok"], r["valid"]) for r in guarded.data["roms"]] == [
        ("efi-e1000.rom", True, True), ("efi-virtio.rom", False, False)]
    assert guarded.data["roms"][1]["errors"] == rows["efi-virtio.rom"]["errors"]
    assert guarded.data["summary"] == {"checked": 2, "wrong_bucket": 0, "invalid": 1}
    assert guarded.text.splitlines()[1].startswith("!!  efi-virtio.rom")
    assert guarded.text.splitlines()[1].endswith("INVALID")


def test_json_schema() -> None:
    rows = compare(romset("o", {"efi-virtio.rom": 249344, "old.rom": 10}),
                   romset("n", {"efi-virtio.rom": 300544}))
    data = compare_json(rows, "o", "n")
    assert data["roms"][0] == {"name": "efi-virtio.rom", "class": "option-rom",
                               "block": None, "block_rule": "ADDR/TYPE.rom",
                               "old_size": 249344, "old_bucket": 262144,
                               "new_size": 300544, "new_bucket": 524288,
                               "verdict": "breaks-migration", "valid": True, "errors": []}
    assert data["roms"][1]["new_size"] is None and data["roms"][1]["verdict"] == "removed"
    assert data["summary"] == {"ok": 0, "breaks-migration": 1, "removed": 1, "only-old": 0,
                               "only-new": 0, "invalid": 0, "breaks_migration": True}


def test_table_is_aligned_with_breaking_rows_marked_first() -> None:
    rows = compare(romset("o", {"efi-e1000.rom": 249856, "efi-virtio.rom": 249344}),
                   romset("n", {"efi-e1000.rom": 262144, "efi-virtio.rom": 300544}))
    assert compare_table(rows) == (
        "    ROM             CLASS       OLD SIZE            OLD BLOCK  NEW SIZE            "
        "NEW BLOCK  VERDICT\n"
        "!!  efi-virtio.rom  option-rom  249344 (243.5 KiB)  256 KiB    300544 (293.5 KiB)  "
        "512 KiB    breaks-migration\n"
        "    efi-e1000.rom   option-rom  249856 (244 KiB)    256 KiB    262144 (256 KiB)    "
        "256 KiB    ok\n"
        "2 ROMs: 1 ok, 1 breaks-migration, 0 removed, 0 only-old, 0 only-new, 0 invalid\n"
    )


def test_guard_exact_and_at_most() -> None:
    roms = romset("s", {"efi-a.rom": 262144, "efi-b.rom": 262145, "pxe-a.rom": 75776})
    rows = guard(roms, [Expectation("efi-*.rom", 262144)])
    assert {(r.rom.name, r.ok) for r in rows} == {("efi-a.rom", True), ("efi-b.rom", False)}
    rows = guard(roms, [Expectation("pxe-*.rom", 262144)], at_most=True)
    assert [(r.rom.name, r.bucket, r.ok) for r in rows] == [("pxe-a.rom", 131072, True)]
    with pytest.raises(UsageError, match=r"'efi-\*\.ROM' matches no ROM"):
        guard(roms, [Expectation("efi-*.ROM", 262144)])


@pytest.mark.parametrize(("text", "error"), [
    ("efi-*.rom", "is not GLOB=SIZE"), ("=256k", "is not GLOB=SIZE"),
    ("efi-*.rom=0k", "is 0 bytes"), ("efi=abc", "'abc' is not a number"),
])
def test_bad_expectations(text: str, error: str) -> None:
    with pytest.raises(UsageError, match=error):
        parse_expectation(text)


def test_an_option_rom_expectation_is_a_bucket() -> None:
    """An option ROM's block is a power of two: an expectation of another size is a usage
    error naming the ROM, not a guard that can never pass."""
    roms = romset("s", {"efi-a.rom": 262144})
    with pytest.raises(UsageError, match=r"efi-a\.rom is an option ROM, whose block is a power"):
        guard(roms, [parse_expectation("efi-*.rom=300k")])


def test_a_firmware_image_expectation_is_its_exact_size() -> None:
    """A pflash image's block is its size (bookworm's OVMF_CODE_4M.fd: 3653632 = 3568k): the
    guard takes that size and says "its block is" when it differs, never "bucket"."""
    roms = romset("s", {"OVMF_CODE_4M.fd": 3653632})
    assert guard_roms(roms, [parse_expectation("OVMF_CODE_4M.fd=3568k")]).problems == ()
    wrong = guard_roms(roms, [parse_expectation("OVMF_CODE_4M.fd=4m")])
    assert wrong.problems == ("s/OVMF_CODE_4M.fd: its block is 3568k, expected 4M",)
    assert "WRONG SIZE" in wrong.text and "BUCKET" not in wrong.text


def test_a_size_without_unit_reads_as_bytes_in_the_message() -> None:
    """``efi-*.rom=256`` is 256 bytes: the error says so, not a bare "expected 256"."""
    roms = valid_romset("s", {"efi-a.rom": 262144})
    outcome = guard_roms(roms, [parse_expectation("efi-*.rom=256")])
    assert outcome.problems == ("s/efi-a.rom: in the 256k bucket, expected 256 bytes",)
    assert "256 bytes" in outcome.text
    tiny = compare_roms(romset_of("o", factory.legacy_image(512, last=True)), roms)
    assert tiny.problems == ("s/efi-a.rom: QEMU bucket changes from 512 bytes to 256k, which "
                             "breaks live migration",)


def romset_of(label: str, data: bytes) -> RomSet:
    return RomSet((RomFile("efi-a.rom", data, 0, "efi-a.rom", Origin("dir", label)),),
                  (Origin("dir", label),))


def test_expectation_parses() -> None:
    assert parse_expectation("efi-*.rom=256k") == Expectation("efi-*.rom", 262144)


def test_a_set_of_debians_own_4m_images_is_no_compat_set() -> None:
    """Review 4: trixie's OVMF_CODE_4M.secboot.fd and OVMF_VARS_4M.ms.fd alone read as a compat
    set, so every image they lack was only-old and check exited 0."""
    old = romset("t", {"OVMF.fd": 4 << 20, "OVMF_CODE_4M.fd": 3653632,
                       "OVMF_CODE_4M.secboot.fd": 3653632, "OVMF_VARS_4M.ms.fd": 540672})
    new = romset("n", {"OVMF_CODE_4M.secboot.fd": 3653632, "OVMF_VARS_4M.ms.fd": 540672})
    rows = compare(old, new)
    assert sorted((r.name, r.verdict.value) for r in rows) == [
        ("OVMF.fd", "removed"), ("OVMF_CODE_4M.fd", "removed"),
        ("OVMF_CODE_4M.secboot.fd", "ok"), ("OVMF_VARS_4M.ms.fd", "ok")]


def test_a_name_that_merely_ends_in_another_is_no_compat_name() -> None:
    """Review 4: vgabios.bin paired with bios.bin (a bare suffix) and was judged as its -bios
    successor; a compat name is PREFIX-ORIGINAL."""
    rows = compare(romset("o", {"bios.bin": 131072}), romset("n", {"vgabios.bin": 40960}))
    assert sorted((r.name, r.verdict.value) for r in rows) == [
        ("bios.bin", "removed"), ("vgabios.bin", "only-new")]
    rows = compare(romset("o", {"bios.bin": 131072, "vgabios.bin": 40960}),
                   romset("n", {"40k-vgabios.bin": 40960}))
    assert {(r.name, r.verdict.value) for r in rows} == {  # a compat set carries some
        ("bios.bin", "only-old"), ("vgabios.bin", "ok")}
