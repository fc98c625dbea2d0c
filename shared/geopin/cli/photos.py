"""The photos ``geopin locate`` is given: files, folders (their photos, at any depth) and
globs the shell left alone (quoted, or matching nothing there), ``**`` included."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import click

from geopin.ingest.sources import PHOTO_SUFFIXES, photos_under

GLOB_CHARACTERS = frozenset("*?[")


def expand(arguments: Sequence[str]) -> list[str]:
    """Each photo once, in the order given (a folder's in a sorted walk); an argument that
    names no photo is a one-line error."""
    photos: dict[str, None] = {}  # an ordered set
    for argument in arguments:
        found = _photos_at(argument)
        if not found:
            raise click.ClickException(f"no photos at {argument}")
        photos.update(dict.fromkeys(found))
    return list(photos)


def _photos_at(argument: str) -> list[str]:
    path = Path(argument)
    if path.is_dir():
        return [str(p) for p in photos_under(path)]
    if path.is_file():
        return [argument]  # named on its own: taken whatever its suffix
    if GLOB_CHARACTERS.isdisjoint(argument):
        return []
    found: list[str] = []
    for match in sorted(glob.glob(argument, recursive=True)):
        if Path(match).is_dir():
            found.extend(str(p) for p in photos_under(Path(match)))
        elif Path(match).suffix.lower() in PHOTO_SUFFIXES:
            found.append(match)
    return found
