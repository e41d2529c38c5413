"""Domain XML as libvirt writes it, read and written as structure (ElementTree), never as text.

Parsing records where the document declares each namespace prefix, and writing puts every
declaration back on the element that carried it: ``qemu:commandline`` stays ``qemu:``, a
metadata element written with ``ns0:`` (as ElementTree-based tools write it) stays ``ns0:``, and a
prefix bound to two URIs in two places keeps both. Comments and processing instructions are kept,
also those before and after ``<domain>``. So a domain edited here means what it meant, and
libvirt's ``define``, ``save-image-define``, ``managedsave-define``, ``restore --xml`` and
``migrate --xml`` take it back.

Not ``ET.tostring``: it knows only one process-wide prefix table (``ET.register_namespace``,
which refuses ``ns0``-style prefixes), puts every declaration on the root (so a rebound prefix
comes out renamed), and recurses once per level. Writing here is a loop, and parsing refuses a
document nested deeper than :data:`~.compat.MAX_XML_DEPTH`. Pure.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping

from ..errors import SourceError
from . import compat

__all__ = ["Domain", "parse", "serialize"]

#: The ``xml:`` prefix is bound by definition and never declared.
XML_NS = "http://www.w3.org/XML/1998/namespace"

_DECLARATION = re.compile(r"\ufeff?\s*<\?xml\s")
#: (prefix, URI) pairs an element's start tag declares; "" is the default namespace.
Declarations = tuple[tuple[str, str], ...]


class Domain:
    """A parsed domain XML: the tree, the namespace prefixes it declared (the first URI of each:
    what an element without recorded declarations, e.g. one copied into a new tree, is written
    with), where each was declared, and the comments and processing instructions around it."""

    def __init__(self, root: ET.Element, namespaces: dict[str, str], declaration: bool, *,
                 declared: Mapping[ET.Element, Declarations] | None = None,
                 before: Iterable[ET.Element] = (), after: Iterable[ET.Element] = ()):
        self.root = root
        self.namespaces = namespaces
        self.declaration = declaration
        self.declared: Mapping[ET.Element, Declarations] = declared or {}
        self.before = tuple(before)
        self.after = tuple(after)

    @property
    def name(self) -> str:
        return (self.root.findtext("name") or "").strip()


class _Builder:
    """ElementTree's TreeBuilder plus what it drops: which element declares which prefix, the
    depth (refused past the limit), and the comments and processing instructions outside the
    root."""

    def __init__(self, what: str):
        self._tree = ET.TreeBuilder(insert_comments=True, insert_pis=True)
        self._what = what
        self._pending: list[tuple[str, str]] = []
        self._depth = 0
        self._root_done = False
        self.namespaces: dict[str, str] = {}
        self.declared: dict[ET.Element, Declarations] = {}
        self.before: list[ET.Element] = []
        self.after: list[ET.Element] = []

    def start_ns(self, prefix: str, uri: str) -> None:
        self._pending.append((prefix or "", uri))
        self.namespaces.setdefault(prefix or "", uri)

    def start(self, tag: str, attrib: dict[str, str]) -> ET.Element:
        self._depth += 1
        if self._depth > compat.MAX_XML_DEPTH:
            raise SourceError(f"{self._what}: elements nested deeper than "
                              f"{compat.MAX_XML_DEPTH} levels: not a domain XML")
        element = self._tree.start(tag, attrib)
        if self._pending or self._depth == 1:
            self.declared[element] = tuple(self._pending)
            self._pending = []
        return element

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        self._root_done = self._depth == 0
        return self._tree.end(tag)

    def data(self, data: str) -> None:
        self._tree.data(data)

    def comment(self, text: str) -> None:
        self._outside(self._tree.comment(text))

    def pi(self, target: str, text: str | None = None) -> None:
        self._outside(self._tree.pi(target, text))

    def _outside(self, node: ET.Element) -> None:
        if self._depth == 0:
            (self.after if self._root_done else self.before).append(node)

    def close(self) -> ET.Element:
        return self._tree.close()


def parse(text: str, what: str = "domain XML") -> Domain:
    """``text`` as a ``<domain>``; exit 2 naming ``what`` if it is not one."""
    if len(text) > compat.MAX_XML or len(text.encode("utf-8", "surrogatepass")) > compat.MAX_XML:
        raise SourceError(f"{what}: larger than {compat.MAX_XML} bytes (as UTF-8): "
                          "not a domain XML")
    builder = _Builder(what)
    parser = ET.XMLParser(target=builder)
    try:
        parser.feed(text)
        root = parser.close()
    except ET.ParseError as error:
        raise SourceError(f"{what}: not well-formed XML: {error}") from None
    if root.tag != "domain":
        raise SourceError(f"{what}: the document is <{root.tag}>, not a libvirt <domain>")
    return Domain(root, builder.namespaces, _DECLARATION.match(text) is not None,
                  declared=builder.declared, before=builder.before, after=builder.after)


def serialize(domain: Domain) -> str:
    """The tree as text, each prefix declared where the input declared it, with the comments and
    processing instructions around the root and a trailing newline."""
    out: list[str] = []
    if domain.declaration:
        out.append("<?xml version='1.0' encoding='UTF-8'?>\n")
    for node in domain.before:
        out += (_other(node), "\n")
    _write(domain, out)
    for node in domain.after:
        out += ("\n", _other(node))
    out.append("\n")
    return "".join(out)


def _write(domain: Domain, out: list[str]) -> None:
    """The root element into ``out``, as a loop (a deep tree cannot exhaust the stack). An
    element without recorded declarations (made or copied here) declares what it needs: a new
    root the document's prefixes, any element a prefix for a namespace no prefix in scope binds."""
    root = domain.root
    rooted = domain.declared.get(root, tuple(domain.namespaces.items()))
    todo: list[tuple[ET.Element | str, dict[str, str]]] = [(root, {})]
    while todo:
        item, scope = todo.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        if not isinstance(item.tag, str):
            out += (_other(item), _text(item.tail))
            continue
        declared = rooted if item is root else domain.declared.get(item, ())
        scope, tag, head = _start(item, scope, declared)
        if len(item) == 0 and not item.text:
            out += (head, " />", _text(item.tail))
            continue
        out += (head, ">", _text(item.text))
        todo.append((f"</{tag}>{_text(item.tail)}", scope))
        todo.extend((child, scope) for child in reversed(item))


def _start(element: ET.Element, outer: dict[str, str],
           declared: Declarations) -> tuple[dict[str, str], str, str]:
    """The element's scope (prefix -> URI), name, and start tag up to ``>``."""
    scope = dict(outer)
    new: list[tuple[str, str]] = []

    def declare(prefix: str, uri: str) -> None:
        scope.pop(prefix, None)
        scope[prefix] = uri  # last in the dict: the newest binding is found first
        new.append((prefix, uri))

    for prefix, uri in declared:
        declare(prefix, uri)

    def qname(name: str, attribute: bool) -> str:
        if not name.startswith("{"):
            if not attribute and scope.get("", ""):
                declare("", "")  # a plain element inside a default namespace: undeclare it
            return name
        uri, local = name[1:].split("}", 1)
        if uri == XML_NS:
            return f"xml:{local}"
        for prefix in reversed(scope):
            if scope[prefix] == uri and (prefix or not attribute):
                return f"{prefix}:{local}" if prefix else local
        count = 0
        while f"ns{count}" in scope:
            count += 1
        declare(f"ns{count}", uri)
        return f"ns{count}:{local}"

    tag = qname(element.tag, attribute=False)
    attributes = [(qname(k, attribute=True), v) for k, v in element.attrib.items()]
    parts = [f"<{tag}"]
    parts += [f' xmlns{":" + p if p else ""}="{_attribute(u)}"' for p, u in new]
    parts += [f' {k}="{_attribute(v)}"' for k, v in attributes]
    return scope, tag, "".join(parts)


def _other(node: ET.Element) -> str:
    """A comment or processing instruction, as the parser read it."""
    tag: object = node.tag  # typed str, but ET.Comment or ET.ProcessingInstruction here
    return f"<!--{node.text}-->" if tag is ET.Comment else f"<?{node.text}?>"


def _text(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "\r", "&#13;")


def _attribute(value: str) -> str:
    return (_text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#09;"))
