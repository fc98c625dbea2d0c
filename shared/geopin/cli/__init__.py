"""The ``geopin`` command line: build a model, load references, locate a photo, run it all.

One module per command group; this one only assembles them.
"""

from __future__ import annotations

import click

from geopin.cli.eval import evaluate
from geopin.cli.index import index
from geopin.cli.keys import keys
from geopin.cli.locate import locate
from geopin.cli.model import model
from geopin.cli.up import up
from geopin.settings import settings_reference


@click.group()
def main() -> None:
    """GeoPin: where was this photo taken?"""


@main.command("settings")
def show_settings() -> None:
    """Print every GEOPIN_ setting with its default and meaning (Markdown)."""
    click.echo(settings_reference(), nl=False)


for command in (model, index, locate, evaluate, keys, up):
    main.add_command(command)
