"""SHA-256 of files and bytes: how inputs are recognised (the recipe, apt's index). A leaf."""

from __future__ import annotations

import hashlib
import os

__all__ = ["file_sha256", "sha256"]

_CHUNK = 1 << 20


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The file's SHA-256, read in chunks so a large package costs flat memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
