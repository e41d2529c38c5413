"""Check: what a ROM set says about migration, before it reaches users.

``report`` describes and validates every ROM (``inspect``); ``compare`` gives each ROM of two
sets a verdict by QEMU bucket (``check OLD NEW``) and guards buckets at build time
(``check --expect``). Each returns an :class:`~ipxe_compat.core.outcome.Outcome`.
"""

from __future__ import annotations

from .compare import Expectation, compare_chain, compare_roms, guard_roms, parse_expectation
from .report import inspect_roms

__all__ = ["Expectation", "compare_chain", "compare_roms", "guard_roms", "inspect_roms",
           "parse_expectation"]
