"""``python -m ipxe_compat`` is the ``ipxe-compat`` command."""

from .cli import main

main(prog_name="ipxe-compat")
