"""Domain XML as libvirt writes it, read and written as structure (ElementTree), never as text.

Parsing keeps comments and every namespace prefix the document declares (``qemu:commandline``
stays ``qemu:``, not ``ns0:``), so a domain edited here means what it meant, and libvirt's
``define``, ``save-image-define``, ``managedsave-define``, ``restore --xml`` and ``migrate --xml``
take it back. Pure.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from ..errors import SourceError

__all__ = ["Domain", "parse", "serialize"]

#: A domain XML is a few KB (a big one with metadata: ~100 KB); a limit keeps a hostile file short.
MAX_XML = 4 << 20


class Domain:
    """A parsed domain XML: the tree and the namespace prefixes it declared."""

    def __init__(self, root: ET.Element, namespaces: dict[str, str], declaration: bool):
        self.root = root
        self.namespaces = namespaces
        self.declaration = declaration

    @property
    def name(self) -> str:
        return (self.root.findtext("name") or "").strip()


def parse(text: str, what: str = "domain XML") -> Domain:
    """``text`` as a ``<domain>``; exit 2 naming ``what`` if it is not one."""
    if len(text) > MAX_XML:
        raise SourceError(f"{what}: longer than {MAX_XML} bytes: not a domain XML")
    namespaces: dict[str, str] = {}
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    try:
        for _event, item in ET.iterparse(io.StringIO(text), events=("start-ns",)):
            prefix, uri = item
            namespaces.setdefault(prefix, uri)
        parser.feed(text)
        root = parser.close()
    except ET.ParseError as error:
        raise SourceError(f"{what}: not well-formed XML: {error}") from None
    if root.tag != "domain":
        raise SourceError(f"{what}: the document is <{root.tag}>, not a libvirt <domain>")
    return Domain(root, namespaces, text.lstrip().startswith("<?xml"))


def serialize(domain: Domain) -> str:
    """The tree as text, with the prefixes the input declared and its trailing newline."""
    for prefix, uri in domain.namespaces.items():
        if prefix:
            ET.register_namespace(prefix, uri)
    text = ET.tostring(domain.root, encoding="unicode", xml_declaration=False)
    if domain.declaration:
        text = "<?xml version='1.0' encoding='UTF-8'?>\n" + text
    return text if text.endswith("\n") else text + "\n"
