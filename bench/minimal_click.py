"""The smallest useful click program: the yardstick for ipxe-compat's start-up cost."""

import click


@click.group()
def cli() -> None:
    """A minimal click program."""


@cli.command()
@click.argument("path")
def inspect(path: str) -> None:
    """Print the size of PATH."""
    with open(path, "rb") as handle:
        click.echo(f"{path}: {len(handle.read())} bytes")


if __name__ == "__main__":
    cli()
