"""Every GEOPIN_ variable the deployment artefacts set or read is a real setting."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.artefacts import K8S, ROOT

NAME = re.compile(r"\bGEOPIN_[A-Z0-9_]+\b")


def documented() -> set[str]:
    table = (ROOT / "docs" / "configuration.md").read_text()
    return set(re.findall(r"^\| `(GEOPIN_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE))


def artefacts() -> list[Path]:
    files = [ROOT / "Dockerfile", ROOT / "docker-compose.yml"]
    files += sorted(p for p in K8S.rglob("*") if p.suffix in {".yaml", ".env"})
    return files


def test_the_configuration_doc_has_a_table_to_check_against() -> None:
    assert "GEOPIN_REDIS__URL" in documented()


def test_every_geopin_variable_in_the_artefacts_is_documented() -> None:
    known = documented()
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in artefacts()
        for name in NAME.findall(path.read_text())
        if name not in known
    }
    assert not unknown, f"not settings (typo?), see docs/configuration.md: {sorted(unknown)}"


def test_the_check_sees_the_artefacts_settings() -> None:
    found = {name for path in artefacts() for name in NAME.findall(path.read_text())}
    assert {"GEOPIN_REDIS__URL", "GEOPIN_MODEL__PATH", "GEOPIN_MODEL__PROVIDERS"} <= found
