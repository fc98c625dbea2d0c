"""The C allocator's setting for a process that handles large, short-lived buffers.

glibc's malloc serves a request above its mmap threshold with a mapping of its own, which
free() hands straight back to the system; smaller ones come from heaps that keep what is freed
for reuse. The threshold starts at 128 KiB but rises to the size of any mapped block freed, up
to 32 MiB. So once an embedding worker has freed its first decoded photo or batch of
activations, buffers of up to 32 MiB come from the heaps, and photos of new sizes leave holes
there that are never handed back: the worker's memory climbs with the variety of sizes it has
seen. Setting the threshold fixes it (glibc stops adjusting it), and every buffer above it is
returned when freed. Nothing any computation sees changes.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
# Pixel rows, tensors and Pillow's image blocks are larger; the interpreter's own objects are
# far smaller and keep the heaps' speed.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def return_large_blocks_when_freed() -> bool:
    """Fix glibc's mmap threshold; False where the C library has no ``mallopt`` (musl, macOS)."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None or not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        log.info("C allocator left as it is: no glibc mallopt here")
        return False
    return True
