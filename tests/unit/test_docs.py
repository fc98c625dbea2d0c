from __future__ import annotations

from pathlib import Path

from geopin.settings import settings_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_doc_lists_every_setting_as_the_code_defines_it() -> None:
    doc = (DOCS / "configuration.md").read_text()
    assert settings_reference() in doc, "regenerate docs/configuration.md with `geopin settings`"
