"""The command line as a user meets it: exit codes, one-line errors, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import factory
from tests.cli_run import run_cli

ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBFULLNAME", "DEBEMAIL")}
    return run_cli(args, cwd, {**base, **(ENV if env is None else env)})


def assert_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ipxe-compat: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def deb(tmp_path: Path) -> Path:
    path = tmp_path / "ipxe-qemu_1.0-1_all.deb"
    path.write_bytes(factory.ipxe_qemu_deb({"efi-virtio.rom": factory.efi_rom(),
                                            "efi-e1000.rom": factory.efi_rom(1536)}))
    return path


COMMANDS = ("inspect", "check", "generate", "qemu-config", "verify-migration")


def test_help_teaches_the_commands(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    listing = result.stdout.split("Commands:", 1)[1]
    for command in COMMANDS:
        (line,) = [row for row in listing.splitlines() if row.strip().startswith(command + " ")]
        assert line.rstrip().endswith(".") and "..." not in line  # whole, not cut off
    assert "apt:NAME[=VERSION]" in result.stdout and "PATH.deb" in result.stdout
    result = run("generate", "--help", cwd=tmp_path)
    assert "--pad-byte" in result.stdout and "dpkg-buildpackage" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_names_the_apt_source_form(tmp_path: Path, command: str) -> None:
    result = run(command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "apt:NAME[=VERSION]" in result.stdout


def test_option_help_names_what_it_takes(tmp_path: Path) -> None:
    generate = " ".join(run("generate", "--help", cwd=tmp_path).stdout.split())
    assert "--size SIZE" in generate and "--pad-byte BYTE" in generate
    assert "0xff, 255, 0o377, 0" in generate
    assert "--newversion VERSION" in generate and "--version VERSION" not in generate
    for option in ("--origin-source", "--origin-version", "--origin-copyright"):
        text = generate.split(option, 1)[1].split(" --", 1)[0]
        assert "Required for DIR and .rom sources" in text, option
    check = " ".join(run("check", "--help", cwd=tmp_path).stdout.split())
    assert "--romsize SIZE" in check and "--expect GLOB=SIZE" in check
    version = run("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("ipxe-compat, version ")


def test_generate_writes_orig_and_tree(tmp_path: Path, deb: Path) -> None:
    result = run("generate", str(deb), "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "ipxe-qemu-256k-compat-1.0", "ipxe-qemu-256k-compat_1.0.orig.tar.xz"]
    tree = out / "ipxe-qemu-256k-compat-1.0"
    # the tree holds the origin's ROMs as they are; debian/rules makes the compat ROMs
    original = tree / "usr/lib/ipxe/qemu/efi-virtio.rom"
    assert original.exists() and original.stat().st_size < 262144
    assert "compat-roms/256k-efi-virtio.rom usr/share/qemu" in (
        tree / "debian/ipxe-qemu-256k-compat-efi-roms.install").read_text()
    assert "Built-Using: ipxe (= 1.0-1)" in (tree / "debian/control").read_text()


def test_force_never_leaves_an_earlier_build_beside_the_new_tree(tmp_path: Path,
                                                                 deb: Path) -> None:
    """Review 4: ``--force`` without --build-source left the earlier run's .dsc and
    _source.changes (what ``debsign && dput`` sends) beside a new tree they do not match."""
    assert run("generate", str(deb), "-o", "out", cwd=tmp_path).returncode == 0
    out = tmp_path / "out"
    (out / "ipxe-qemu-256k-compat_1.0-1.dsc").write_text("old\n")
    assert_error(run("generate", str(deb), "-o", "out", "--force", cwd=tmp_path), 2,
                 "ipxe-qemu-256k-compat_1.0-1.dsc from an earlier --build-source run would not "
                 "match the new tree")
    (out / "ipxe-qemu-256k-compat_1.0-1.dsc").unlink()
    (out / "ipxe-qemu-256k-compat-efi-roms_1.0-1_all.deb").write_text("old\n")
    again = run("generate", str(deb), "-o", "out", "--force", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert ("ipxe-qemu-256k-compat-efi-roms_1.0-1_all.deb from an earlier build of this "
            "version do not match the new tree") in again.stderr


def test_missing_source_is_exit_2(tmp_path: Path) -> None:
    assert_error(run("generate", "nope.deb", "-o", "out", cwd=tmp_path), 2, "nope.deb")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--size", "300k", "not a power of two"),
    ("--pad-byte", "0x100", "pad byte"),
    ("--maintainer", "Evil <e@x.org>\nDepends: evil", "maintainer"),
    ("--newversion", "1.0", "no Debian revision"),
    ("--prefix", "../", "prefix"),
    ("--date", "yesterday", "date"),
    ("--roms", "efi-nothing*.rom", "matches no ROM"),
    ("--distribution", "noble", "no lintian target"),
])
def test_bad_option_values_are_exit_2(tmp_path: Path, deb: Path, option: str, value: str,
                                      fragment: str) -> None:
    assert_error(run("generate", str(deb), "-o", "out", option, value, cwd=tmp_path), 2, fragment)
    assert not (tmp_path / "out").exists()


def test_a_refusal_creates_no_directory_at_any_depth(tmp_path: Path, deb: Path) -> None:
    result = run("generate", str(deb), "-o", "a/b/out", "--maintainer", "nobody", cwd=tmp_path)
    assert_error(result, 2, "maintainer")
    assert sorted(p.name for p in tmp_path.iterdir()) == [deb.name]


def test_unknown_option_is_one_line(tmp_path: Path, deb: Path) -> None:
    assert_error(run("generate", str(deb), "-o", "out", "--frobnicate", cwd=tmp_path), 2,
                 "--frobnicate")


def test_maintainer_is_required(tmp_path: Path, deb: Path) -> None:
    result = run("generate", str(deb), "-o", "out", cwd=tmp_path,
                 env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert_error(result, 2, "DEBFULLNAME")


def test_oversized_rom_is_exit_1_and_nothing_is_written(tmp_path: Path) -> None:
    big = factory.efi_rom(1024, 1024, padding=b"\xff" * (300544 - 2048))
    (tmp_path / "roms").mkdir()
    (tmp_path / "roms" / "efi-virtio.rom").write_bytes(big)
    result = run("generate", "roms", "-o", "out", "--origin-source", "ipxe", "--origin-version",
                 "1.0-1", cwd=tmp_path)
    assert_error(result, 1, "efi-virtio.rom (300544 bytes)", "refusing to truncate")
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_force(tmp_path: Path, deb: Path) -> None:
    assert run("generate", str(deb), "-o", "out", cwd=tmp_path).returncode == 0
    marker = tmp_path / "out" / "ipxe-qemu-256k-compat-1.0" / "debian" / "control"
    marker.write_text("edited by hand\n")
    assert_error(run("generate", str(deb), "-o", "out", cwd=tmp_path), 2, "--force")
    assert marker.read_text() == "edited by hand\n"
    result = run("generate", str(deb), "-o", "out", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert marker.read_text().startswith("Source: ipxe-qemu-256k-compat\n")
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_output_path_that_is_a_file(tmp_path: Path, deb: Path) -> None:
    (tmp_path / "out").write_text("mine\n")
    assert_error(run("generate", str(deb), "-o", "out", cwd=tmp_path), 2, "not a directory")
    assert (tmp_path / "out").read_text() == "mine\n"


def test_directory_source_needs_its_origin(tmp_path: Path) -> None:
    (tmp_path / "roms").mkdir()
    (tmp_path / "roms" / "efi-virtio.rom").write_bytes(factory.efi_rom())
    assert_error(run("generate", "roms", "-o", "out", cwd=tmp_path), 2, "--origin-source")
    (tmp_path / "copyright").write_text(factory.COPYRIGHT)
    result = run("generate", "roms", "-o", "out", "--origin-source", "ipxe", "--origin-version",
                 "1.0-1", "--origin-copyright", "copyright", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    control = (tmp_path / "out" / "ipxe-qemu-256k-compat-1.0" / "debian" / "control").read_text()
    assert "Built-Using: ipxe (= 1.0-1)" in control


def test_inspect_valid_and_invalid(tmp_path: Path, deb: Path) -> None:
    result = run("inspect", str(deb), cwd=tmp_path)
    assert result.returncode == 0
    assert "efi-virtio.rom: 2048 bytes" in result.stdout
    (tmp_path / "bad.rom").write_bytes(factory.legacy_image() + factory.efi_image(last=False))
    result = run("inspect", "bad.rom", "--json", cwd=tmp_path)
    assert_error(result, 1, "bad.rom: offset 0x400", "chain does not end")
    assert '"valid": false' in result.stdout


def _snapshot(top: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every path below ``top``: content, mode and mtime (what dpkg-source would carry)."""
    snap = {}
    for path in sorted(top.rglob("*")):
        info = path.lstat()
        snap[str(path.relative_to(top))] = (
            path.read_bytes() if path.is_file() else None, info.st_mode, int(info.st_mtime))
    return snap


def test_output_is_identical_across_clock_time_zone_umask_and_directory(
    tmp_path: Path, deb: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "deeper").mkdir(parents=True)
    first = subprocess.run(
        [sys.executable, "-m", "ipxe_compat", "generate", str(deb), "-o", str(tmp_path / "a/out")],
        cwd=tmp_path / "a", env={**os.environ, **ENV, "TZ": "UTC"}, capture_output=True,
        preexec_fn=lambda: os.umask(0o022), check=False)
    time.sleep(1.1)  # the wall clock must differ between the runs, so a leak of it shows
    second = subprocess.run(
        [sys.executable, "-m", "ipxe_compat", "generate", str(deb), "-o", "../../b/out"],
        cwd=tmp_path / "b" / "deeper", env={**os.environ, **ENV, "TZ": "Pacific/Chatham",
                                            "LC_ALL": "C.UTF-8"},
        capture_output=True, preexec_fn=lambda: os.umask(0o077), check=False)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    assert _snapshot(tmp_path / "a/out") == _snapshot(tmp_path / "b/out")


def _rom_dir(path: Path, roms: dict[str, bytes]) -> str:
    path.mkdir()
    for name, data in roms.items():
        (path / name).write_bytes(data)
    return path.name


def test_check_exit_codes(tmp_path: Path) -> None:
    small = factory.efi_rom()
    grown = factory.efi_rom(padding=b"\xff" * 4096)
    old = _rom_dir(tmp_path / "old", {"efi-virtio.rom": small, "efi-e1000.rom": small})
    same = _rom_dir(tmp_path / "same", {"efi-virtio.rom": small, "efi-e1000.rom": small})
    new = _rom_dir(tmp_path / "new", {"efi-virtio.rom": grown, "efi-e1000.rom": small})
    result = run("check", old, same, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert "2 ROMs: 2 ok, 0 breaks-migration" in result.stdout
    result = run("check", old, new, cwd=tmp_path)
    assert_error(result, 1, "efi-virtio.rom", "from 2k to 8k")
    assert result.stdout.splitlines()[1].startswith("!!  efi-virtio.rom")


def test_check_guard_mode_exit_codes(tmp_path: Path) -> None:
    roms = _rom_dir(tmp_path / "roms", {"efi-virtio.rom": factory.efi_rom()})
    assert run("check", "--expect", "efi-*.rom=2k", roms, cwd=tmp_path).returncode == 0
    assert_error(run("check", "--expect", "efi-*.rom=4k", roms, cwd=tmp_path), 1,
                 "efi-virtio.rom", "2k bucket, expected 4k")
    assert run("check", "--expect", "efi-*.rom=4k", "--at-most", roms, cwd=tmp_path).returncode == 0
    assert_error(run("check", "--expect", "efi-virtoi.rom=2k", roms, cwd=tmp_path), 2,
                 "matches no ROM")


@pytest.mark.parametrize(("args", "fragment"), [
    (["roms"], "two sources or more"),
    (["--at-most", "roms", "roms"], "--at-most goes with --expect"),
    (["--expect", "efi-*.rom=300k", "roms"], "is an option ROM, whose block is a power of two"),
    (["--expect", "efi-*.rom=256k", "roms", "roms"], "one SOURCE"),
    (["roms", "empty"], "empty"),
    (["roms", "missing"], "missing"),
])
def test_check_bad_usage_is_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    _rom_dir(tmp_path / "roms", {"efi-virtio.rom": factory.efi_rom()})
    _rom_dir(tmp_path / "empty", {"efi-virtio.rom": b""})
    assert_error(run("check", *args, cwd=tmp_path), 2, fragment)


@pytest.mark.parametrize("argv", [
    ["inspect", "roms", "--roms", "efi-*", "--roms", "typo*"],
    ["check", "roms", "roms", "--roms", "efi-*", "--roms", "typo*"],
    ["check", "--expect", "efi-*=2k", "--expect", "typo*=2k", "roms"],
    ["generate", "roms", "-o", "out", "--roms", "efi-*", "--roms", "typo*",
     "--origin-source", "ipxe", "--origin-version", "1.0-1"],
], ids=["inspect", "check", "check-expect", "generate"])
def test_a_glob_matching_nothing_is_exit_2_for_every_command(tmp_path: Path,
                                                             argv: list[str]) -> None:
    _rom_dir(tmp_path / "roms", {"efi-virtio.rom": factory.efi_rom()})
    assert_error(run(*argv, cwd=tmp_path), 2, "'typo*' matches no ROM (there are: efi-virtio.rom)")
    assert not (tmp_path / "out").exists()


def test_an_ambiguous_pairing_is_named_whatever_the_hash_seed(tmp_path: Path) -> None:
    old = _rom_dir(tmp_path / "old", {"efi-virtio.rom": factory.efi_rom()})
    new = _rom_dir(tmp_path / "new", {"256k-efi-virtio.rom": factory.efi_rom(),
                                      "512k-efi-virtio.rom": factory.efi_rom(padding=bytes(4096))})
    for seed in ("0", "1", "2", "3"):
        result = run("check", old, new, cwd=tmp_path, env={**ENV, "PYTHONHASHSEED": seed})
        assert_error(result, 2, "efi-virtio.rom pairs ambiguously with 256k-efi-virtio.rom and "
                                "512k-efi-virtio.rom")


def test_an_internal_error_is_exit_3_in_one_line(tmp_path: Path, deb: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A bug (any exception that is no IpxeCompatError) is exit 3, not 1 ("a problem found")."""
    from ipxe_compat import cli
    from ipxe_compat.check import report

    def bug(*args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(report, "rom_errors", bug)
    with pytest.raises(SystemExit, match=r"^3$") as caught:
        cli.main(["inspect", str(deb)])
    assert caught.value.code == 3
    assert capsys.readouterr().err == ("ipxe-compat: error: internal error: KeyError: 'a bug' "
                                       "(run with --debug for details)\n")
    with pytest.raises(KeyError, match="a bug"):  # --debug: the traceback, for a bug report
        cli.main(["--debug", "inspect", str(deb)])
    assert "3 an internal error" in " ".join(run("--help", cwd=tmp_path).stdout.split())


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("Mode", "banana", "mode 'banana' is not pad or copy"),
    ("Pad-Byte", "0x1ff", "pad byte '0x1ff'"),
    ("Size", "300k", "not a power of two"),
    ("Roms", "", "no --roms GLOB"),
    ("Maintainer", "nobody", "maintainer 'nobody'"),
    ("Date", "yesterday", "date 'yesterday'"),
])
def test_a_recipe_is_validated_as_the_command_line_is(tmp_path: Path, deb: Path, field: str,
                                                      value: str, fragment: str) -> None:
    assert run("generate", str(deb), "-o", "one", cwd=tmp_path).returncode == 0
    recipe = tmp_path / "one/ipxe-qemu-256k-compat-1.0/debian/ipxe-compat.recipe"
    lines = recipe.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{field}:"))
    lines[at] = f"{field}: {value}\n"
    while at + 1 < len(lines) and lines[at + 1].startswith(" "):  # a multi-line value
        del lines[at + 1]
    recipe.write_text("".join(lines))
    result = run("generate", "--recipe", str(recipe), str(deb), "-o", "two", cwd=tmp_path)
    assert_error(result, 2, str(recipe), fragment)
    assert not (tmp_path / "two").exists()


def test_recipe_of_a_directory_source_needs_the_same_origin_copyright(tmp_path: Path) -> None:
    _rom_dir(tmp_path / "roms", {"efi-virtio.rom": factory.efi_rom()})
    (tmp_path / "copyright").write_text(factory.COPYRIGHT)
    first = run("generate", "roms", "-o", "one", "--origin-source", "ipxe", "--origin-version",
                "1.0-1", "--origin-copyright", "copyright", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    recipe = "one/ipxe-qemu-256k-compat-1.0/debian/ipxe-compat.recipe"
    assert_error(run("generate", "--recipe", recipe, "-o", "two", cwd=tmp_path), 2,
                 "give the sources: roms")
    assert_error(run("generate", "--recipe", recipe, "roms", "-o", "two", cwd=tmp_path), 2,
                 "--origin-copyright")
    again = run("generate", "--recipe", recipe, "roms", "-o", "two", "--origin-copyright",
                "copyright", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _snapshot(tmp_path / "one") == _snapshot(tmp_path / "two")


def _ovmf_deb(tmp_path: Path) -> Path:
    path = tmp_path / "ovmf_2.0-1_all.deb"
    path.write_bytes(factory.deb({"usr/share/ovmf/OVMF.fd": b"\xaa" * (64 << 10),
                                  "usr/share/doc/ovmf/copyright": factory.COPYRIGHT.encode()},
                                 package="ovmf", version="2.0-1", source="edk2"))
    return path


def test_an_input_that_gives_no_carried_file_is_refused(tmp_path: Path, deb: Path) -> None:
    """Its firmware would reach the orig tarball and debian/copyright's Files: without its
    copyright or a Built-Using entry (review-1 #3)."""
    ovmf = _ovmf_deb(tmp_path)
    result = run("generate", str(deb), str(ovmf), "-o", "out", cwd=tmp_path)
    assert_error(result, 2, f"{ovmf}: none of the files carried comes from it (--roms "
                 "efi-*.rom selects none of its files")
    assert not (tmp_path / "out").exists()
    # the same files as an earlier SOURCE's: nothing of it is carried either
    _rom_dir(tmp_path / "same", {"efi-virtio.rom": factory.efi_rom()})
    assert_error(run("generate", str(deb), "same", "-o", "out", cwd=tmp_path), 2,
                 "same: none of the files carried comes from it")
    # selected, it is carried, and Built-Using names it
    both = run("generate", str(deb), str(ovmf), "--roms", "efi-*", "--roms", "OVMF.fd",
               "--size", "256k", "--newversion", "1.0-1", "-o", "out", "--json", cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    assert '"built_using": "edk2 (= 2.0-1), ipxe (= 1.0-1)"' in both.stdout


def test_a_recipe_whose_input_gives_no_carried_file_is_refused(tmp_path: Path,
                                                               deb: Path) -> None:
    """A recipe passes its inputs again: one that gives nothing is refused there too."""
    assert run("generate", str(deb), "-o", "one", cwd=tmp_path).returncode == 0
    recipe = tmp_path / "one/ipxe-qemu-256k-compat-1.0/debian/ipxe-compat.recipe"
    ovmf = _ovmf_deb(tmp_path)
    from ipxe_compat.input import read_source

    origin, _ = read_source(str(ovmf))
    recipe.write_text(recipe.read_text() + f"\nInput: {ovmf.name}\nKind: deb\nPackage: ovmf\n"
                      f"Version: 2.0-1\nSHA256: {origin.sha256}\n")
    result = run("generate", "--recipe", str(recipe), str(deb), str(ovmf), "-o", "two",
                 cwd=tmp_path)
    assert_error(result, 2, f"{ovmf}: none of the files carried comes from it")
    assert not (tmp_path / "two").exists()


def test_generate_help_gives_the_naming_rule_not_only_ipxes_names(tmp_path: Path) -> None:
    """An ovmf source gets ovmf-<size>-compat (core/compat.py package_names): the help says so."""
    from ipxe_compat.core.compat import package_names

    text = " ".join(run("generate", "--help", cwd=tmp_path).stdout.split())
    assert "[default: <origin>-<size>-compat," in text
    assert package_names("2m", "ovmf")[0] in text.replace("- ", "-")
    made = run("generate", str(_ovmf_deb(tmp_path)), "--size", "64k", "-o", "out", "--json",
               cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert f'"source": "{package_names("64k", "ovmf")[0]}"' in made.stdout
