"""Input: ROM sets read from the world, a .deb, a directory, .rom files or ``apt:NAME[=VERSION]``.

``sources`` turns SOURCE arguments into a :class:`RomSet`; ``debpkg`` reads a binary package
(members streamed, never extracted by path); ``apt`` resolves ``apt:`` to a verified .deb in a
cache; ``files`` reads small files with a bound. Everything above reads ROM sets through this face.
"""

from __future__ import annotations

from .files import open_regular, read_regular_file, read_text_file
from .sources import Origin, RomFile, RomSet, read_source, read_sources

__all__ = ["Origin", "RomFile", "RomSet", "open_regular", "read_regular_file", "read_source",
           "read_sources", "read_text_file"]
