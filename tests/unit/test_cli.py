from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from geopin.cli import main


def test_index_add_names_bad_lines_and_indexes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"photo")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,lat,lon\na.jpg,52,4\na.jpg,-91,4\n")
    result = CliRunner().invoke(main, ["index", "add", str(manifest)])
    assert result.exit_code == 1
    assert f"{manifest}: line 3: latitude -91.0 is not a number between -90 and 90" in result.output
    assert result.output.rstrip().endswith("Error: 1 problem(s); nothing was indexed")
    assert "Traceback" not in result.output


def test_locate_without_a_gateway_says_so_in_one_line(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    result = CliRunner().invoke(main, ["locate", str(photo), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: cannot reach GeoPin at http://127.0.0.1:9: is the gateway running?\n"
    )


def test_model_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["model", "init", "-o", str(existing)])
    assert result.exit_code == 1
    assert "pass --force to overwrite it" in result.output
    assert existing.read_bytes() == b"keep me"
