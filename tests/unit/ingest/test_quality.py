"""Quality control on generated photos: one per defect, and clean ones that must pass."""

from __future__ import annotations

import pytest
from geopin.ingest.quality import Defect, inspect
from geopin.settings import QualitySettings
from PIL import Image, ImageDraw, ImageFilter

from tests.support.factories import place_photo

SETTINGS = QualitySettings()


def _occluded(image: Image.Image) -> Image.Image:
    """A bus parked in front of the camera: 90% of the frame one flat colour."""
    covered = image.copy()
    ImageDraw.Draw(covered).rectangle(
        (0, 0, image.width * 9 // 10, image.height), fill=(90, 90, 95)
    )
    return covered


DEFECTS = {
    "tiny": (place_photo(1, (100, 80)), Defect.TOO_SMALL),
    "night": (Image.eval(place_photo(2), lambda v: v // 40), Defect.UNDEREXPOSED),
    "blown-out": (Image.eval(place_photo(3), lambda v: min(255, v * 5)), Defect.OVEREXPOSED),
    "lens-cap": (Image.new("RGB", (640, 480), (128, 128, 128)), Defect.LOW_INFORMATION),
    "occluded": (_occluded(place_photo(4)), Defect.LOW_INFORMATION),
    "shaken": (place_photo(5).filter(ImageFilter.GaussianBlur(3)), Defect.BLURRED),
}


@pytest.mark.parametrize(("image", "defect"), DEFECTS.values(), ids=DEFECTS.keys())
def test_each_defect_is_refused_with_its_reason(image: Image.Image, defect: Defect) -> None:
    verdict = inspect(image, SETTINGS)
    assert verdict is not None
    assert verdict.defect is defect
    assert verdict.detail


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1600, 1200), (240, 320)])
def test_clean_photos_pass(seed: int, size: tuple[int, int]) -> None:
    assert inspect(place_photo(seed, size), SETTINGS) is None


def test_thresholds_come_from_settings() -> None:
    blurred = place_photo(5).filter(ImageFilter.GaussianBlur(3))
    assert inspect(blurred, QualitySettings(min_laplacian_var=0.0)) is None
    assert inspect(place_photo(1), QualitySettings(min_side=400)) is not None
