"""ROM set sources: .deb over every compression, symlinks, directories, files, clashes."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ipxe_compat.errors import SourceError
from ipxe_compat.input import read_source, read_sources
from tests import factory
from tests.dpkg import dpkg_roms

ROM_A = factory.efi_rom(1024, 1024)
ROM_B = factory.efi_rom(1536, 1024, vendor=0x8086, device=0x100E)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("compression", ["gz", "xz", "zst", "bz2", ""],
                         ids=["gz", "xz", "zst", "bz2", "none"])
def test_deb_data_member_in_every_compression(tmp_path: Path, compression: str) -> None:
    deb = write(tmp_path / "ipxe-qemu_1.0-1_all.deb",
                factory.ipxe_qemu_deb({"efi-virtio.rom": ROM_A, "efi-e1000.rom": ROM_B},
                                      compression=compression))
    origin, roms = read_source(deb)
    assert {r.name: r.data for r in roms} == {"efi-virtio.rom": ROM_A, "efi-e1000.rom": ROM_B}
    assert (origin.package, origin.version, origin.source_package) == ("ipxe-qemu", "1.0-1", "ipxe")
    assert origin.copyright is not None and "Michael Brown" in origin.copyright
    assert {r.path for r in roms} == {"usr/lib/ipxe/qemu/efi-virtio.rom",
                                      "usr/lib/ipxe/qemu/efi-e1000.rom"}


def test_deb_roms_in_both_qemu_dirs_and_symlinks_inside_the_package(tmp_path: Path) -> None:
    data = factory.deb(
        {"usr/share/qemu/efi-virtio.rom": ROM_A, "usr/lib/ipxe/other.rom": ROM_B,
         "usr/share/doc/ipxe-qemu/copyright": factory.COPYRIGHT.encode()},
        symlinks={"usr/lib/ipxe/qemu/efi-e1000.rom": "../other.rom",
                  "usr/lib/ipxe/qemu/efi-virtio.rom": "/usr/share/qemu/efi-virtio.rom"},
    )
    _, roms = read_source(write(tmp_path / "p.deb", data))
    assert {r.name: r.data for r in roms} == {"efi-virtio.rom": ROM_A, "efi-e1000.rom": ROM_B}


def test_deb_symlink_out_of_the_package_is_refused(tmp_path: Path) -> None:
    data = factory.deb({"usr/share/qemu/efi-virtio.rom": ROM_A},
                       symlinks={"usr/share/qemu/efi-e1000.rom": "../../../../etc/shadow"})
    with pytest.raises(SourceError, match=r"efi-e1000\.rom points outside the package"):
        read_source(write(tmp_path / "p.deb", data))


def test_deb_source_version_from_binnmu_source_field(tmp_path: Path) -> None:
    data = factory.deb({"usr/share/qemu/efi-virtio.rom": ROM_A}, version="1.0-1+b1",
                       source="ipxe (1.0-1)")
    origin, _ = read_source(write(tmp_path / "p.deb", data))
    assert (origin.source_package, origin.source_version, origin.version) == (
        "ipxe",
        "1.0-1",
        "1.0-1+b1",
    )


def test_deb_without_roms_is_not_a_rom_set(tmp_path: Path) -> None:
    data = factory.deb({"usr/share/doc/ipxe-qemu/README": b"hi"})
    with pytest.raises(SourceError, match=r"no firmware files under .*: not a QEMU firmware"):
        read_source(write(tmp_path / "p.deb", data))


def test_text_file_named_deb_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a readable Debian binary package"):
        read_source(write(tmp_path / "p.deb", b"hello\n"))


def test_directory_source_reads_rom_files_and_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    write(tmp_path / "real" / "efi-e1000.rom", ROM_B)
    roms_dir = tmp_path / "roms"
    roms_dir.mkdir()
    write(roms_dir / "efi-virtio.rom", ROM_A)
    write(roms_dir / "README", b"not a rom")
    os.symlink(tmp_path / "real" / "efi-e1000.rom", roms_dir / "efi-e1000.rom")
    origin, roms = read_source(str(roms_dir))
    assert origin.kind == "dir" and origin.package is None
    assert [(r.name, r.path) for r in roms] == [("efi-e1000.rom", "efi-e1000.rom"),
                                                ("efi-virtio.rom", "efi-virtio.rom")]


def test_several_sources_merge_and_identical_duplicates_are_fine(tmp_path: Path) -> None:
    a = write(tmp_path / "efi-virtio.rom", ROM_A)
    deb = write(tmp_path / "p.deb", factory.ipxe_qemu_deb({"efi-virtio.rom": ROM_A,
                                                           "efi-e1000.rom": ROM_B}))
    romset = read_sources([a, deb])
    assert [r.name for r in romset.roms] == ["efi-e1000.rom", "efi-virtio.rom"]
    assert len(romset.origins) == 2


def test_same_name_different_bytes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write(tmp_path / "one" / "efi-virtio.rom", ROM_A)
    write(tmp_path / "two" / "efi-virtio.rom", ROM_B)
    with pytest.raises(SourceError, match=r"efi-virtio\.rom differs") as caught:
        read_sources([str(tmp_path / "one"), str(tmp_path / "two")])
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("name", "error"), [
    ("missing.deb", "cannot read: No such file"), ("missing-dir", "cannot read: No such file"),
    ("notes.txt", "not a firmware set source: expected a .deb, a directory or a .rom, .bin or "
                  ".fd file"),
])
def test_unusable_source_is_exit_2(tmp_path: Path, name: str, error: str) -> None:
    if name == "notes.txt":
        write(tmp_path / name, b"x")
    with pytest.raises(SourceError, match=re.escape(f"{name}: {error}")) as caught:
        read_source(str(tmp_path / name))
    assert caught.value.exit_code == 2
    assert caught.value.path == str(tmp_path / name)


@pytest.mark.integration
def test_real_bookworm_package_reads_as_dpkg_unpacks_it(bookworm_deb: Path) -> None:
    origin, roms = read_source(str(bookworm_deb))
    assert (origin.source_package, origin.source_version) == (
        "ipxe",
        "1.0.0+git-20190125.36a4c85-5.1",
    )
    assert {r.name: r.data for r in roms} == dpkg_roms(bookworm_deb)
    sizes = {r.name: r.size for r in roms}
    assert sizes["efi-virtio.rom"] == 249344 and sizes["pxe-virtio.rom"] == 75776
    assert len(sizes) == 16


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, bytes]]:
    """A tree as ``generate`` writes it (its usr/ holds the origin's ROMs, unpadded), the origin
    .deb, and the compat files its build makes (debian/rules: copy, pad to 256 KiB)."""
    from ipxe_compat.package import Request, generate_package

    top = tmp_path_factory.mktemp("generated")
    deb = write(top / "ipxe-qemu_1.0-1_all.deb",
                factory.ipxe_qemu_deb({"efi-virtio.rom": ROM_A, "efi-e1000.rom": ROM_B}))
    result = generate_package(Request(maintainer="T <t@example.org>", date="@1700000000"),
                              [deb], top / "build")
    return result.tree, deb, {rom.name: rom.data for rom in result.spec.roms}


def _generated_tree(tmp_path: Path, generated: tuple[Path, str, dict[str, bytes]]
                    ) -> tuple[Path, str, dict[str, bytes]]:
    """A copy of the generated tree, for one test to change."""
    tree, deb, made = generated
    copy = tmp_path / tree.name
    shutil.copytree(tree, copy)
    return copy, deb, made


def test_generated_tree_before_its_build_is_refused_not_read_as_a_host(
        tmp_path: Path, generated: tuple[Path, str, dict[str, bytes]]) -> None:
    # its usr/lib/ipxe/qemu/*.rom are the originals: read as a host root, check and
    # verify-migration would compare the originals with themselves and pass
    tree, _, _ = _generated_tree(tmp_path, generated)
    assert (tree / "usr/lib/ipxe/qemu/efi-virtio.rom").read_bytes() == ROM_A
    with pytest.raises(SourceError, match=r"a source tree made by generate, not built yet "
                       r"\(no compat-roms/\).*give the \.deb it builds") as caught:
        read_source(str(tree))
    assert caught.value.exit_code == 2


def test_generated_tree_after_its_build_is_its_compat_files(
        tmp_path: Path, generated: tuple[Path, str, dict[str, bytes]]) -> None:
    tree, deb, made = _generated_tree(tmp_path, generated)
    (tree / "compat-roms").mkdir()
    for name, data in made.items():
        write(tree / "compat-roms" / name, data)
    origin, roms = read_source(str(tree))
    assert {r.name: r.data for r in roms} == made
    assert sorted(made) == ["256k-efi-e1000.rom", "256k-efi-virtio.rom"]
    assert origin.spec == str(tree / "compat-roms")  # messages name where the files are
    # check ORIG TREE compares the originals with the compat files, not with themselves
    from ipxe_compat.check import compare_roms

    outcome = compare_roms(read_sources([deb]), read_sources([str(tree)]))
    assert [(r["name"], r["old_size"], r["new_size"]) for r in outcome.data["roms"]] == [
        ("efi-e1000.rom", len(ROM_B), 262144), ("efi-virtio.rom", len(ROM_A), 262144)]


@pytest.mark.parametrize("change", ["missing", "extra", "different"])
def test_generated_tree_whose_build_does_not_match_its_manifest_is_refused(
        tmp_path: Path, change: str, generated: tuple[Path, str, dict[str, bytes]]) -> None:
    tree, _, made = _generated_tree(tmp_path, generated)
    (tree / "compat-roms").mkdir()
    for name, data in made.items():
        write(tree / "compat-roms" / name, data)
    victim = tree / "compat-roms" / "256k-efi-virtio.rom"
    if change == "missing":
        victim.unlink()
    elif change == "extra":
        victim = tree / "compat-roms" / "256k-efi-pcnet.rom"
        write(victim, ROM_A)
    else:
        write(victim, ROM_A)
    with pytest.raises(SourceError, match=re.escape(
            f"compat-roms/ does not hold the files debian/compat-roms.manifest lists "
            f"({victim.name}: missing, extra or different)")):
        read_source(str(tree))


def _built_tree(top: Path) -> Path:
    """A tree as generate writes it and dpkg-buildpackage builds it: an OVMF compat set whose
    debian/*.install puts each file under /usr/share/ovmf or /usr/share/OVMF."""
    import hashlib

    tree = top / "ovmf-2m-compat-2022.11"
    (tree / "debian").mkdir(parents=True)
    (tree / "compat-roms").mkdir()
    files = {"2m-OVMF.fd": ("usr/share/ovmf", 2 << 20), "2m-OVMF_VARS.fd": ("usr/share/OVMF",
                                                                           128 << 10)}
    manifest, install = "# name size sha256 ...\n", ""
    for name, (where, size) in files.items():
        data = b"\xff" * size
        (tree / "compat-roms" / name).write_bytes(data)
        manifest += f"{name} {size} {hashlib.sha256(data).hexdigest()} none\n"
        install += f"compat-roms/{name} {where}\n"
    (tree / "debian" / "compat-roms.manifest").write_text(manifest)
    (tree / "debian" / "ovmf-2m-compat.install").write_text(install)
    return tree


@pytest.mark.parametrize("build_dir", [False, True], ids=["tree", "compat-roms"])
def test_a_built_trees_files_are_where_its_package_installs_them(tmp_path: Path,
                                                                 build_dir: bool) -> None:
    """Review 4: qemu-config on an OVMF tree (or its compat-roms/) named /usr/share/qemu, where
    the package installs nothing: QEMU would not find the file."""
    tree = _built_tree(tmp_path)
    _, roms = read_source(str(tree / "compat-roms" if build_dir else tree))
    assert {rom.name: rom.installed for rom in roms} == {
        "2m-OVMF.fd": "/usr/share/ovmf/2m-OVMF.fd",
        "2m-OVMF_VARS.fd": "/usr/share/OVMF/2m-OVMF_VARS.fd"}
