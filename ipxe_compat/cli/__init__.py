"""The ``ipxe-compat`` command: parse options, call one library function, map errors to exits.

One module per command (``inspect``, ``check``, ``generate``, ``qemu_config``, ``verify``); each
calls into one subsystem's face after reading its sources through ``input``, importing them (and
jinja2, python-debian) inside the command, so ``--help`` stays fast. :func:`main` is the one place
that maps exceptions to exit codes (docs/cli.md): 1 = a problem was found, 2 = bad usage or
unusable input, 3 = an internal error (a bug), 4 and 5 = generate's output is complete but not
clean, or not complete (see package/output.py), 130 = interrupted. ``--debug`` shows the
traceback. Every line it prints on stderr is one line (:func:`~ipxe_compat.errors.shown`), and a
SIGINT, SIGTERM or SIGHUP is one ``interrupted`` line; no child process outlives it.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from .. import __version__
from ..errors import Interrupted, IpxeCompatError, shown, signals_as_exceptions
from ..runner import kill_all
from .check import check
from .common import CONTEXT, PROG, SOURCE_FORMS, one_line
from .generate import generate
from .inspect import inspect
from .preflight import preflight
from .qemu_config import qemu_config
from .verify import verify_migration

__all__ = ["PROG", "cli", "main"]

#: An unexpected exception: a bug, not a problem of the input.
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
_debug = False


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"{PROG}: error: {one_line(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None, prog_name: str = PROG) -> None:
    """Console entry point; never shows a traceback unless --debug is given."""
    try:
        with signals_as_exceptions():  # Interrupted, which click lets through without a word
            try:
                code = cli.main(args=argv, prog_name=prog_name, standalone_mode=False)
            finally:
                kill_all()  # whatever still runs (nothing, normally) ends with us
    except IpxeCompatError as error:
        if _debug:
            raise
        _fail(str(error), error.exit_code)
    except click.exceptions.UsageError as error:
        _fail(error.format_message().replace("\n", " "), 2)
    except (click.exceptions.Abort, KeyboardInterrupt, Interrupted):
        _fail("interrupted", EXIT_INTERRUPTED)
    except OSError as error:
        if _debug:
            raise
        where = f"{shown(str(error.filename))}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}", 2)
    except Exception as error:  # a bug: still one line, its own status, and a way to see more
        if _debug:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (run with --debug for details)",
              EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name=PROG)
@click.option("--debug", is_flag=True, help="Show a Python traceback on errors.")
def cli(debug: bool) -> None:
    """Keep old firmware files so QEMU live migration survives firmware updates.

    QEMU loads firmware files into memory blocks that live migration copies: a NIC's option ROM
    (sized to the next power of two of the file), the -bios image and pflash images (exactly
    the file's size). When an update changes a block's size, guests started on old hosts can no
    longer migrate to updated ones ("Size mismatch"). ipxe-compat reads firmware sets, validates
    every file, finds the changes that break migration, generates a co-installable Debian package
    that keeps the old files under prefixed names (256k-efi-virtio.rom, 2m-OVMF.fd), tells QEMU
    and libvirt to use them, proves with real QEMU builds that guests migrate, and tells a libvirt
    host which of its guests would break on a destination.

    \b
    SOURCE is where a firmware set comes from:
      PATH.deb                 a binary package such as ipxe-qemu, seabios, ovmf or
                               qemu-system-data (its files under usr/share/qemu/,
                               usr/share/seabios/, usr/lib/ipxe/qemu/, usr/share/ovmf/,
                               usr/share/OVMF/)
      DIR                      the firmware files directly in DIR, or a host's root (/ or a
                               chroot) holding those directories, read in QEMU's search order;
                               a tree generate wrote: the compat files of its build
                               (compat-roms/; before dpkg-buildpackage it is refused)
      FILE                     one .rom, .bin or .fd file
      apt:NAME[=VERSION]       downloaded with apt-get and checked against apt's index,
                               e.g. apt:ipxe-qemu=1.0.0+git-20190125.36a4c85-5.1

    SIZE is a power of two: 256k, 256K, 262144, 1M. Run "ipxe-compat COMMAND --help" for a
    command's options and examples.

    Exit status: 0 success, 1 a problem was found (a size that breaks migration, an invalid or
    oversized ROM, a failed migration),
    2 bad usage or unusable input, 3 an internal error (a bug: --debug shows its traceback),
    4 (generate) the output is complete but something could not be removed, 5 (generate) the
    previous output could not be put back (the next run restores it), 130 interrupted.
    """
    global _debug  # noqa: PLW0603 (main() reads it after click has returned or raised)
    _debug = debug


for _command in (inspect, check, generate, qemu_config, verify_migration, preflight):
    # one wording of the SOURCE forms, in every command's help and man page
    _command.help = (_command.help or "").replace("{sources}", SOURCE_FORMS)
    cli.add_command(_command)
