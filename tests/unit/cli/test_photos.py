"""The photos `geopin locate` is given: files, folders and globs, each photo once."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from geopin.cli.photos import expand


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("b.jpg", "a.JPEG", "notes.txt", "sub/c.png", "sub/deeper/d.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_a_folder_gives_its_photos_at_any_depth_in_a_stable_order(folder: Path) -> None:
    names = [str(Path(p).relative_to(folder)) for p in expand([str(folder)])]
    assert names == ["a.JPEG", "b.jpg", "sub/c.png", "sub/deeper/d.webp"]


def test_a_quoted_glob_is_expanded_recursively_and_skips_what_is_no_photo(folder: Path) -> None:
    names = [Path(p).name for p in expand([f"{folder}/**/*"])]
    assert sorted(names) == ["a.JPEG", "b.jpg", "c.png", "d.webp"]


def test_a_file_named_on_its_own_is_taken_whatever_its_suffix(folder: Path) -> None:
    assert expand([str(folder / "notes.txt")]) == [str(folder / "notes.txt")]


def test_a_photo_named_twice_is_located_once(folder: Path) -> None:
    photo = str(folder / "b.jpg")
    assert expand([photo, str(folder), photo]).count(photo) == 1


def test_an_argument_naming_no_photo_is_a_one_line_error(folder: Path) -> None:
    with pytest.raises(click.ClickException, match=r"no photos at .*/nothing-\*\.jpg"):
        expand([str(folder), f"{folder}/nothing-*.jpg"])
