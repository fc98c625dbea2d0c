"""The import contract that keeps the domain below the wiring names every module of geopin.

A module added later and left out of the contract would be free to import the wiring: this
test makes the author decide which side it is on.
"""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import geopin

ROOT = Path(__file__).resolve().parents[2]
# The composition side: they choose and build the adapters, so they may import the wiring.
WIRING_SIDE = {"geopin.wiring", "geopin.cli", "geopin.worker"}


def test_every_geopin_module_is_on_one_side_of_the_wiring_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (domain,) = (
        contract["source_modules"]
        for contract in config["contracts"]
        if contract["name"] == "The domain never imports the wiring or the command line"
    )
    modules = {f"geopin.{module.name}" for module in pkgutil.iter_modules(geopin.__path__)}
    assert set(domain) == modules - WIRING_SIDE
    assert modules >= WIRING_SIDE
