"""``python -m geopin.cli``: the ``geopin`` command, for environments without its script."""

from geopin.cli import main

main()
