"""The host side: which guests of a libvirt host break on a destination, and the fix for each.

``connection`` is the only module that talks to libvirt (its Python binding, loaded by
``binding`` only when a command needs it); ``twin`` makes a domain's twin (the same machine and
ROM-carrying devices, nothing of the guest's); ``blocks`` reads RAM blocks from ``info
ramblock`` and from save images and compares them; ``judge`` runs it all, twins in
parallel; ``report`` words the verdicts.
"""

from __future__ import annotations

from .judge import PreflightRequest, default_jobs, preflight

__all__ = ["PreflightRequest", "default_jobs", "preflight"]
