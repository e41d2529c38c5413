"""What every command shares: option callbacks, the help text of SOURCE, output and warnings.

The command modules (one per command) parse options, read what the options name here at the
boundary, call one library function and print its result through :func:`report`; exceptions go up
to :func:`ipxe_compat.cli.main`, the one place that maps them to exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core import compat
from ..errors import UsageError, shown

if TYPE_CHECKING:
    from ..core.outcome import Outcome
    from ..package import InputFile

__all__ = ["CONTEXT", "PROG", "SOURCE_FORMS", "default_maintainer", "emit_json", "globs",
           "one_line", "read_option_file", "report", "warn"]

PROG = "ipxe-compat"
#: A fixed width, so help reads the same in a terminal, a pipe and a man page.
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100,
                           "terminal_width": 100}
#: How every command's help names the forms of SOURCE (the top-level help lists them).
SOURCE_FORMS = ("SOURCE is PATH.deb, DIR, a .rom, .bin or .fd FILE, or apt:NAME[=VERSION] "
                "(see ipxe-compat --help).")


def one_line(message: str) -> str:
    """A message as it is, or, should a name in it still hold a line break or another control
    character (each name should have passed :func:`~ipxe_compat.errors.shown` already), quoted
    whole by it: an error or warning is never two lines."""
    return message if message.isprintable() else shown(message)


def warn(message: str) -> None:
    """The one warnings channel: a line on stderr that a script can tell from an error."""
    click.echo(f"{PROG}: warning: {one_line(message)}", err=True)


def globs(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """--roms patterns are one line each (the recipe records them)."""
    from ..core.fields import glob

    return tuple(glob(value) for value in values)


def emit_json(data: Any) -> None:
    import json  # only for --json: keeps start-up light

    click.echo(json.dumps(data, indent=2, sort_keys=False))


def report(outcome: Outcome, as_json: bool) -> None:
    """Print the outcome as JSON or text, then each problem as an error line; exit 1 if any."""
    if as_json:
        emit_json(outcome.data)
    else:
        click.echo(outcome.text, nl=False)
    for problem in outcome.problems:
        click.echo(f"{PROG}: error: {one_line(problem)}", err=True)
    if outcome.problems:
        sys.exit(1)


def default_maintainer(environ: Mapping[str, str] = os.environ) -> str:
    """``$DEBFULLNAME <$DEBEMAIL>``, or ``$DEBEMAIL`` of the form 'Name <email>', as dch reads
    them; exit 2 when neither says who."""
    name, email = environ.get("DEBFULLNAME", "").strip(), environ.get("DEBEMAIL", "").strip()
    if "<" in email:
        return email
    if name and email:
        return f"{name} <{email}>"
    raise UsageError("no maintainer: give --maintainer 'Name <email>' or set DEBFULLNAME and "
                     "DEBEMAIL")


def read_option_file(path: str | Path | None, what: str) -> InputFile | None:
    """A text file an option names, read here at the boundary (nothing below reads option
    files): bounded, UTF-8, and a FIFO or device is refused before it is read."""
    from ..input import read_text_file
    from ..package import InputFile

    if path is None:
        return None
    return InputFile(str(path), read_text_file(str(path), compat.MAX_OPTION_FILE, what))
