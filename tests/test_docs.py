"""The documentation holds to the code: the command reference is what click renders, README stays
short and opens with the tool, every path the docs and comments cite is in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ipxe_compat.cli.reference import markdown

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
REGENERATE = ".venv/bin/python -m ipxe_compat.cli.reference docs/commands.md"


@pytest.mark.lint  # rendered with this venv's click; Debian's older click words defaults alike
def test_commands_md_is_what_the_click_definitions_render() -> None:
    committed = (REPO / "docs" / "commands.md").read_text()
    assert committed == markdown(), (
        f"docs/commands.md differs from the click definitions: run `{REGENERATE}` and commit it")


def test_readme_is_short_and_opens_with_the_tool() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    first = readme.split("\n## ", 1)[0]  # before the first section: what the tool does and why
    assert "Size mismatch" in first and "ipxe-compat" in first and ".ci/" not in first


def test_readme_holds_the_two_commands_ci_runs() -> None:
    """.ci/fresh runs the first two command lines of README's first sh block, as a user would."""
    awk = ("/^```sh$/ {inblock=1; next} /^```/ {if (inblock) exit} inblock")
    block = subprocess.run(["awk", awk, str(REPO / "README.md")], capture_output=True, text=True,
                           check=True).stdout
    commands = [re.sub(r"\s*#.*$", "", line) for line in block.splitlines()]
    assert [line for line in commands if line.strip()] == [
        "sh .ci/demo", "sh .ci/setup && .venv/bin/python -m pytest -n auto"]


#: A path of this repository as prose and comments cite it.
CITED = re.compile(r"(?<![\w./-])((?:docs|tests|ipxe_compat|bench|debian|templates|debian-skel"
                   r"|\.ci)/[\w.+-]+(?:/[\w.+-]+)*)")
#: Paths in the package the tool writes (its templates' names), in a build tree or in QEMU's
#: source: not of this repository.
NOT_OURS = re.compile(r"^debian/(ipxe|previous-roms|<|rules$|changelog$|control$|copyright$|"
                      r"README\.|verify-roms$|compat-roms|previous-firmware|ovmf-like|seabios-like|tests/control$|tests/migrate$|source/|"
                      r"upstream/|patches\b|.*\.j2$)")


def cited_paths(text: str) -> set[str]:
    return {match.rstrip(".") for match in CITED.findall(text)}


def sources() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")
    return [REPO / name for name in tracked
            if name.endswith((".py", ".md", ".j2", ".toml")) or name.startswith((".ci/", "debian/"))
            if (REPO / name).is_file()]


@pytest.mark.lint  # git's list of the source tree's files
def test_every_cited_path_is_in_the_repository() -> None:
    """README, docs/ and comments cite only files of the repository (nothing outside it)."""
    missing = {}
    for source in sources():
        if source == Path(__file__).resolve():
            continue  # its own patterns name such paths
        text = source.read_text(errors="replace")
        for path in cited_paths(text):
            if NOT_OURS.match(path) or "*" in path or "KIND" in path:  # KIND: a placeholder
                continue
            module = path.split(".", 1)[0] + ".py"  # tests/libvirt_session.RootLibvirt
            if not (REPO / path).exists() and not (REPO / module).exists():
                missing.setdefault(str(source.relative_to(REPO)), []).append(path)
    assert missing == {}


@pytest.mark.lint  # git's list of the source tree's files
def test_nothing_cites_the_sessions_shared_notes() -> None:
    """The project's own contract and background live in docs/: no reference leads outside."""
    outside = re.compile(r"\.\./shared|shared/docs|the seed's")
    offenders = [str(source.relative_to(REPO)) for source in sources()
                 if source != Path(__file__).resolve()
                 and outside.search(source.read_text(errors="replace"))]
    assert offenders == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_links_between_documents_resolve(doc: Path) -> None:
    links = re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", doc.read_text())
    assert [link for link in links if not (doc.parent / link).exists()] == []


def test_architecture_names_every_module() -> None:
    """docs/architecture.md's table: every module of every layer (it missed five once)."""
    table = (REPO / "docs" / "architecture.md").read_text()
    modules = [f"`{path.stem}`" for path in (REPO / "ipxe_compat").glob("*/*.py")
               if path.stem != "__init__"]
    assert [module for module in modules if module not in table] == []


def test_every_compat_package_the_docs_name_is_the_one_generate_builds_on_debian_12() -> None:
    """The examples run on Debian 12 and generate for bookworm (--distribution bookworm), whose
    versions carry that suite's suffix (package/targets.py): a name without it is a file no
    example makes (review-1 #5: build/ovmf-2m-compat_2022.11-1_all.deb)."""
    from ipxe_compat.package.targets import revision_suffix

    suffix = revision_suffix("bookworm")
    texts = {path.name: path.read_text() for path in [*DOCS, REPO / "README.md"]}
    texts["--help"] = markdown()
    package = re.compile(r"\b([\w.+-]+-[0-9]+[kmg]-compat(?:-efi-roms)?_[\w.+~-]+_all\.deb)")
    named = {(where, match[1]) for where, text in texts.items()
             for match in package.finditer(text)}
    assert named, "no compat package named: the pattern is stale"
    wrong = sorted((where, name) for where, name in named
                   if not name.removesuffix("_all.deb").endswith(suffix))
    assert not wrong, f"not what generate --distribution bookworm builds ({suffix}): {wrong}"


def _keys(value: object) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_cli_md_names_every_key_of_check_and_inspect_json() -> None:
    """docs/cli.md's contract names each field a script reads from check's three JSON shapes
    (compare, chain, guard) and inspect's: it once knew no chain shape, no class, no removed."""
    from ipxe_compat.check import (
        compare_chain,
        compare_roms,
        guard_roms,
        inspect_roms,
        parse_expectation,
    )
    from ipxe_compat.input import Origin, RomFile, RomSet
    from tests import factory

    def romset(label: str, data: bytes) -> RomSet:
        origin = Origin("dir", label)
        return RomSet((RomFile("efi-virtio.rom", data, 0, "efi-virtio.rom", origin),), (origin,))

    good, broken = romset("o", factory.efi_rom()), romset("n", b"\0\0" + factory.efi_rom()[2:])
    documents = [compare_roms(good, broken).data, compare_chain([good, good, broken]).data,
                 guard_roms(broken, [parse_expectation("efi-*.rom=4k")]).data,
                 inspect_roms(good).data]
    keys = set().union(*map(_keys, documents)) - {"images", "padding", "efi"}  # inspect's detail
    keys -= set(_keys(inspect_roms(good).data["roms"][0]["images"]))
    keys -= {"length", "byte"}  # padding's
    contract = (REPO / "docs" / "cli.md").read_text()
    assert sorted(k for k in keys if f"`{k}`" not in contract and f'"{k}"' not in contract) == []
