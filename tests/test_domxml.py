"""Domain XML read and written back (core/domxml.py) through qemu-config --apply's edit: prefixes
as the document declared them, comments and processing instructions, the size and depth limits,
and what --apply reports. Fast: pure, plus two commands through tests/cli_run.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ipxe_compat.core import compat
from ipxe_compat.core.domxml import parse, serialize
from ipxe_compat.errors import SourceError
from ipxe_compat.host.twin import twin_xml
from ipxe_compat.qemu import CompatPaths, apply_xml
from tests import factory
from tests.cli_run import run_cli

VIRTIO = "/usr/share/qemu/256k-efi-virtio.rom"
NICS = CompatPaths({"virtio": VIRTIO}, {}, ("ipxe-qemu-256k-compat-efi-roms",))
CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
LOADER = CompatPaths({}, {CODE: "/usr/share/OVMF/2m-OVMF_CODE_4M.fd"}, ("ovmf-2m-compat",))


def _domain(metadata: str = "", interface: str = "<model type='virtio'/>", extra: str = "") -> str:
    return (f"<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
            f"  <name>g</name>\n  <metadata>{metadata}</metadata>\n"
            f"  <os><type arch='x86_64'>hvm</type><loader type='pflash'>{CODE}</loader></os>\n"
            f"  <devices><interface type='network'>{interface}</interface></devices>{extra}\n"
            "</domain>\n")


def test_an_ns0_prefix_is_kept_and_means_what_it_meant() -> None:
    text = _domain("<ns0:app xmlns:ns0='urn:example:app'>tag</ns0:app>")
    xml = apply_xml(text, NICS).xml
    assert '<ns0:app xmlns:ns0="urn:example:app">tag</ns0:app>' in xml
    assert ET.fromstring(xml).findtext("metadata/{urn:example:app}app") == "tag"
    twin = ET.fromstring(twin_xml(parse(text), "twin").xml)  # preflight writes it too
    assert twin.findtext("name") == "twin"


def test_a_rebound_prefix_survives_both_steps_of_the_guides_pipeline() -> None:
    """qemu-config IPXE.deb --apply f | qemu-config OVMF.deb --apply -"""
    once = apply_xml(_domain("<a:x xmlns:a='urn:one'/><a:y xmlns:a='urn:two'/>"), NICS)
    twice = apply_xml(once.xml, LOADER)
    assert (len(once.changed), len(twice.changed)) == (1, 1)
    assert '<a:x xmlns:a="urn:one" /><a:y xmlns:a="urn:two" />' in twice.xml
    metadata = ET.fromstring(twice.xml).find("metadata")
    assert metadata is not None
    assert [child.tag for child in metadata] == ["{urn:one}x", "{urn:two}y"]
    assert apply_xml(twice.xml, NICS).xml == twice.xml


def test_comments_and_processing_instructions_are_kept_where_they_were() -> None:
    text = ("<?xml version='1.0'?>\n<!-- WARNING: edit with virsh -->\n<?app keep?>\n"
            + _domain("<?inner one?><!--inner-->") + "<!-- after -->\n")
    xml = apply_xml(text, NICS).xml
    assert xml.startswith("<?xml version='1.0' encoding='UTF-8'?>\n"
                          "<!-- WARNING: edit with virsh -->\n<?app keep?>\n<domain ")
    assert "<metadata><?inner one?><!--inner--></metadata>" in xml
    assert xml.endswith("</domain>\n<!-- after -->\n")


def test_new_and_copied_elements_declare_what_they_need() -> None:
    domain = parse("<domain><metadata><app xmlns='urn:d'/></metadata></domain>")
    app = domain.root.find("metadata/{urn:d}app")
    assert app is not None
    ET.SubElement(app, "plain")
    ET.SubElement(domain.root, "{urn:new}z", {"{urn:d}at": "1"})
    text = serialize(domain)
    root = ET.fromstring(text)
    assert root.find("metadata/{urn:d}app/plain") is not None
    new = root.find("{urn:new}z")
    assert new is not None
    assert new.attrib == {"{urn:d}at": "1"}


def test_nesting_past_the_limit_is_refused_in_one_line_and_libvirts_depth_is_taken() -> None:
    def nested(levels: int) -> str:
        return _domain("<m>" * (levels - 2) + "</m>" * (levels - 2))

    with pytest.raises(SourceError, match=f"nested deeper than {compat.MAX_XML_DEPTH} levels"):
        apply_xml(nested(1000), NICS)
    assert apply_xml(nested(257), NICS).changed  # libvirt takes 257 levels, the root included


def test_the_size_limit_counts_bytes() -> None:
    text = _domain("\u00e9" * (compat.MAX_XML // 2))  # fewer characters than the limit, more bytes
    with pytest.raises(SourceError, match=f"larger than {compat.MAX_XML} bytes"):
        parse(text)


def test_apply_reports_an_empty_rom_file_and_a_global_romfile_it_overrides() -> None:
    empty = apply_xml(_domain(interface="<model type='virtio'/><rom file=''/>"), NICS)
    assert empty.left_alone == ("interface #0 (virtio): its ROM is disabled (<rom file=''/>: an "
                                "empty file name loads no ROM), left alone",)
    args = "<qemu:arg value='-global'/><qemu:arg value='{}.romfile=x.rom'/>"
    extra = "<qemu:commandline>" + args.format("virtio-net-pci") + args.format("e1000") + (
        "</qemu:commandline>")
    applied = apply_xml(_domain(extra=extra), NICS)
    assert applied.overrides == ("interface #0 (virtio): its <rom file> takes the place of "
                                 "<qemu:commandline>'s -global virtio-net-pci.romfile=x.rom",)


def test_qemu_config_apply_is_given_once_and_warns_of_what_it_overrides(tmp_path: Path) -> None:
    (tmp_path / "256k-efi-virtio.rom").write_bytes(factory.efi_rom())
    extra = ("<qemu:commandline><qemu:arg value='-global'/>"
             "<qemu:arg value='virtio-net-pci-base.romfile=x.rom'/></qemu:commandline>")
    (tmp_path / "a.xml").write_text(_domain("<ns1:m xmlns:ns1='urn:m'/>", extra=extra))
    argv = ["qemu-config", tmp_path, "--format", "libvirt", "--apply", "a.xml"]
    twice = run_cli([*argv, "--apply", "a.xml"], tmp_path)
    assert (twice.returncode, twice.stdout) == (2, "")
    assert twice.stderr.startswith("ipxe-compat: error: give --apply once")
    once = run_cli(argv, tmp_path)
    assert once.returncode == 0, once.stderr
    assert '<ns1:m xmlns:ns1="urn:m" />' in once.stdout
    assert once.stderr == ("ipxe-compat: warning: a.xml: interface #0 (virtio): its <rom file> "
                           "takes the place of <qemu:commandline>'s -global "
                           "virtio-net-pci-base.romfile=x.rom\n")
