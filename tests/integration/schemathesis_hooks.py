"""What schemathesis cannot learn from the OpenAPI document: how to draw a photo.

The document says a part or body is ``image/jpeg`` (or PNG, WebP, HEIF); no schema can say how
to produce one that decodes, so each accepted media type gets a strategy drawing small real
photos of that format. Valid requests then create real jobs that the stateful phase follows.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pillow_heif
import schemathesis
from geopin.images import ACCEPTED_MEDIA_TYPES, ImageFormat
from hypothesis import strategies as st
from PIL import Image


def _encoder(image_format: ImageFormat) -> Callable[[Image.Image], bytes]:
    def encode(image: Image.Image) -> bytes:
        out = io.BytesIO()
        if image_format is ImageFormat.HEIF:
            pillow_heif.from_pillow(image).save(out, format="HEIF")
        else:
            image.save(out, image_format.value.upper())
        return out.getvalue()

    return encode


def _photos(image_format: ImageFormat) -> st.SearchStrategy[bytes]:
    sides = st.integers(min_value=1, max_value=48)
    colours = st.tuples(*[st.integers(min_value=0, max_value=255)] * 3)
    images = st.builds(lambda w, h, c: Image.new("RGB", (w, h), c), sides, sides, colours)
    return images.map(_encoder(image_format))


for media_type in ACCEPTED_MEDIA_TYPES:
    kind = media_type.removeprefix("image/")
    schemathesis.openapi.media_type(
        media_type, _photos(ImageFormat.HEIF if kind == "heic" else ImageFormat(kind))
    )


# Refusals that depend on what a field holds, which no schema can express: a callback host
# that resolves to no public address; a search area out of range, or given both ways.
CONTENT_REFUSALS = frozenset({"callback-url-refused", "invalid-geo-filter"})


@schemathesis.check
def valid_data_is_refused_only_for_its_content(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """positive_data_acceptance lets valid data have a 400 (schemathesis.toml); this check
    allows only the codes above."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 400 and response.json().get("code") not in CONTENT_REFUSALS:
        raise AssertionError(f"valid data refused: {response.json()}")
    return None


# Answers that only a real ID gets: the stateful phase follows the document's links from a
# submitted job (and fuzzing reuses IDs from earlier answers). A thumbnail needs a job that
# succeeded, and its best match's ID.
REACHED_WITH_REAL_IDS = {
    "GET /v1/jobs/{job_id}": {200},
    "POST /v1/jobs/{job_id}/redeliver": {202, 409},
    "GET /v1/references/{reference_id}/thumbnail": {200},
}


@schemathesis.check
class JobRoutesAreReached:
    """Fails the run if a job's routes never answered a real job or reference."""

    def __init__(self) -> None:
        self.reached: set[str] = set()

    def after_response(
        self,
        ctx: schemathesis.CheckContext,
        response: schemathesis.Response,
        case: schemathesis.Case,
    ) -> None:
        label = case.operation.label
        if response.status_code in REACHED_WITH_REAL_IDS.get(label, ()):
            self.reached.add(label)

    def after_run(self, ctx: schemathesis.CheckContext) -> None:
        missed = REACHED_WITH_REAL_IDS.keys() - self.reached
        if missed:
            raise AssertionError(f"never reached with a real ID: {sorted(missed)}")
