"""A budget of pixels that photos being decoded at once share, so decoding memory stays bounded.

An embedding worker decodes in every task thread. Decoded, a photo at the pixel limit takes
hundreds of megabytes (RGBA and its composite onto the background at 4 bytes a pixel each), so
eight of them at once would take more than a worker's memory limit. Small photos still decode
side by side; a photo that needs more than is free waits for the others, first come first
served, and one at the limit decodes alone.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class PixelBudget:
    def __init__(self, pixels: int) -> None:
        if pixels < 1:
            raise ValueError("a pixel budget needs at least one pixel")
        self._capacity = pixels
        self._free = pixels
        self._waiting: deque[object] = deque()
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget (at most all of it) until the block ends."""
        wanted = min(max(pixels, 0), self._capacity)
        turn = object()
        with self._changed:
            self._waiting.append(turn)
            self._changed.wait_for(lambda: self._waiting[0] is turn and self._free >= wanted)
            self._waiting.popleft()
            self._free -= wanted
            self._changed.notify_all()  # the next in line may fit as well
        try:
            yield
        finally:
            with self._changed:
                self._free += wanted
                self._changed.notify_all()
