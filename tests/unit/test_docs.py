from __future__ import annotations

import re
from pathlib import Path

from geopin.errors import CATALOGUE, error_reference, failed_job_codes
from geopin.images import ACCEPTED_MEDIA_TYPES
from geopin.settings import settings_reference
from geopin.top_k import TOP_K_MAX, TOP_K_MIN

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()


def test_configuration_doc_lists_every_setting_as_the_code_defines_it() -> None:
    doc = (DOCS / "configuration.md").read_text()
    assert settings_reference() in doc, "regenerate docs/configuration.md with `geopin settings`"


def test_readme_error_tables_are_the_catalogue_of_codes() -> None:
    assert error_reference() in README, "regenerate the README's tables: python -m geopin.errors"


def test_readme_names_no_code_outside_the_catalogue_and_every_code_in_it() -> None:
    api_rows = re.findall(r"^\| \d{3} \| `([a-z-]+)` \|", README, re.MULTILINE)
    job_rows = re.findall(r"^\| `(?!code`)([a-z-]+)` \| ", README, re.MULTILINE)
    assert sorted(api_rows + job_rows) == sorted(
        [e.code for e in CATALOGUE.values() if e.status is not None]
        + [e.code for e in failed_job_codes()]
    )


def test_readme_states_the_top_k_bounds_and_the_accepted_image_types() -> None:
    submit = next(line for line in README.splitlines() if line.startswith("| `POST /v1/jobs` |"))
    assert f"`top_k` ({TOP_K_MIN}-{TOP_K_MAX}," in submit
    for media_type in ACCEPTED_MEDIA_TYPES:
        assert f"`{media_type}`" in submit
