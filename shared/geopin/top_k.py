"""How many matches a job may ask for: the API's validator, its OpenAPI document, the CLI,
the settings and the docs all take the bounds from here."""

from __future__ import annotations

from typing import Final

TOP_K_MIN: Final = 1
TOP_K_MAX: Final = 100
