"""Dense references as along a city's streets, cut from real photographs.

Each photograph (:mod:`tests.support.wallpapers`) is one street, seen from the side as a
camera moving along it would see it: a view is a window of the photograph, and walking
``d`` metres along the street moves the window ``PIXELS_PER_M * d`` pixels to the right.
Reference spots lie 10-30 m apart, each with several views (the upper, middle and lower part
of the window, as a survey camera takes a few pitches per spot), positioned with a few metres
of GPS noise. Queries are taken anywhere along the street, years later: a slightly different
framing and one strong change of appearance (:func:`tests.support.real_photos.with_strong_change`).

Streets run east, parallel, ``STREET_GAP_M`` apart, as blocks of a city do. The same world
also gives a sparse reference set: every ``SPARSE_EVERY``-th spot (a few hundred metres
apart), with queries taken near those spots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from geopin.geo import LatLon
from PIL import Image

from tests.support.factories import encode
from tests.support.real_photos import with_strong_change

PHOTO_WIDTH = 2560  # photographs are resized to this width: one street
VIEW_SIZE = (320, 400)  # width and height of a view, pixels
PIXELS_PER_M = 6.0  # 20 m along the street moves a view by 120 px, about a third of it
SPACING_M = (10.0, 30.0)  # between neighbouring reference spots
PITCHES = (0.3, 0.5, 0.7)  # centres of a spot's views, as shares of the photograph's height
GPS_NOISE_M = 3.0  # standard deviation of a reference's recorded position, each axis
STREET_GAP_M = 150.0
QUERIES_PER_STREET = 24
SPARSE_EVERY = 12  # every 12th spot: about 240 m apart
SPARSE_QUERIES_PER_SPOT = 4
SPARSE_QUERY_REACH_M = 5.0  # a sparse query is taken this close to its spot, at most
ORIGIN = LatLon(52.3676, 4.9041)
_M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class View:
    """A photo of a street taken at ``along_m`` metres from its start, recorded at ``location``."""

    street: int
    along_m: float
    pitch: float  # the view's vertical centre, as a share of the photograph's height
    location: LatLon
    spot: int = -1  # the reference spot it belongs to; -1 for a query


@dataclass(frozen=True)
class Street:
    photo: Image.Image
    length_m: float


@dataclass(frozen=True)
class World:
    streets: list[Street]
    references: list[View]
    queries: list[View]  # dense queries: anywhere along the streets
    sparse_queries: list[View]  # near the sparse set's spots

    def sparse_references(self) -> list[int]:
        """Positions in ``references`` of the sparse set: every ``SPARSE_EVERY``-th spot."""
        return [i for i, view in enumerate(self.references) if view.spot % SPARSE_EVERY == 0]


def place(street: int, along_m: float) -> LatLon:
    """Where a point ``along_m`` metres along a street lies (a local plane around ORIGIN)."""
    north = street * STREET_GAP_M
    lat = ORIGIN.lat + north / _M_PER_DEG_LAT
    lon = ORIGIN.lon + along_m / (_M_PER_DEG_LAT * math.cos(math.radians(ORIGIN.lat)))
    return LatLon(lat, lon)


def build(paths: Sequence[Path], seed: int = 0) -> World:
    """The streets of ``paths`` (one each), their reference spots and their queries."""
    rng = np.random.default_rng(seed)
    streets, references, queries, sparse_queries = [], [], [], []
    for number, path in enumerate(paths):
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        height = round(image.height * PHOTO_WIDTH / image.width)
        photo = image.resize((PHOTO_WIDTH, height), Image.Resampling.LANCZOS)
        length = (PHOTO_WIDTH - VIEW_SIZE[0]) / PIXELS_PER_M
        streets.append(Street(photo, length))
        along = float(rng.uniform(0, SPACING_M[0]))
        spot = 0
        while along <= length:
            for pitch in PITCHES:
                east, north = rng.normal(0, GPS_NOISE_M, 2)
                recorded = _moved(place(number, along), float(east), float(north))
                references.append(View(number, along, pitch, recorded, spot))
            if spot % SPARSE_EVERY == 0:
                for _ in range(SPARSE_QUERIES_PER_SPOT):
                    offset = float(rng.uniform(-SPARSE_QUERY_REACH_M, SPARSE_QUERY_REACH_M))
                    sparse_queries.append(_query(rng, number, min(max(along + offset, 0), length)))
            along += float(rng.uniform(*SPACING_M))
            spot += 1
        for _ in range(QUERIES_PER_STREET):
            queries.append(_query(rng, number, float(rng.uniform(0, length))))
    return World(streets, references, queries, sparse_queries)


def _query(rng: np.random.Generator, street: int, along_m: float) -> View:
    pitch = float(rng.choice(PITCHES)) + float(rng.uniform(-0.03, 0.03))
    return View(street, along_m, pitch, place(street, along_m))


def _moved(location: LatLon, east_m: float, north_m: float) -> LatLon:
    lon_m = _M_PER_DEG_LAT * math.cos(math.radians(location.lat))
    return LatLon(location.lat + north_m / _M_PER_DEG_LAT, location.lon + east_m / lon_m)


def _window(street: Street, view: View, zoom: float = 1.0) -> Image.Image:
    """The part of the street's photograph seen from ``view``, ``zoom`` < 1 closer in."""
    width, height = VIEW_SIZE[0] * zoom, VIEW_SIZE[1] * zoom
    centre_x = view.along_m * PIXELS_PER_M + VIEW_SIZE[0] / 2
    centre_y = view.pitch * street.photo.height
    left, right = round(centre_x - width / 2), round(centre_x + width / 2)
    top, bottom = round(centre_y - height / 2), round(centre_y + height / 2)
    return street.photo.crop((left, top, right, bottom)).resize(VIEW_SIZE)


def reference_photo(world: World, view: View) -> bytes:
    return encode(_window(world.streets[view.street], view), quality=92)


def query_photo(world: World, view: View, turn: int) -> bytes:
    """The query's photo: zoomed in by up to 15% and with the ``turn``-th strong change."""
    rng = np.random.default_rng(turn)
    zoom = float(rng.uniform(0.85, 1.0))
    return with_strong_change(_window(world.streets[view.street], view, zoom), rng, turn)
