"""Package: the co-installable compat source package, from a request to the files on disk.

One way: ``spec`` validates a :class:`Request` (command-line options or a recipe) and derives the
:class:`PackageSpec`, using ``plan`` (which ROMs, padded how), ``naming`` (names, version, output
layout), ``copyright`` and ``changelog``; ``context`` and ``recipe`` are derived from the
specification; ``render`` turns the context into debian/ files; ``output`` writes atomically;
``build`` runs dpkg-source; ``generate`` strings them together.
"""

from __future__ import annotations

from .generate import GenerateResult, generate_package, regenerate_package
from .spec import InputFile, PackageSpec, Request

__all__ = [
    "GenerateResult",
    "InputFile",
    "PackageSpec",
    "Request",
    "generate_package",
    "regenerate_package",
]
