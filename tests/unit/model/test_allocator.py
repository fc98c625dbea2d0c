"""glibc hands freed buffers of photo and tensor size back to the system once the threshold is
fixed, instead of keeping them in its heaps (each case runs in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

BLOCKS, BLOCK = 40, 6 * 1024 * 1024

# Frees one 16 MiB mapped block (which raises glibc's threshold when it is not fixed), then
# allocates 6 MiB blocks, each followed by a small one that pins the heap around it, writes
# them, frees the large ones and prints the resident memory in MiB.
PROBE = f"""
import ctypes, sys
from geopin.model.allocator import return_large_blocks_when_freed
if sys.argv[1] == "fixed":
    assert return_large_blocks_when_freed()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(16 << 20))
large, pins = [], []
for i in range({BLOCKS}):
    large.append(libc.malloc({BLOCK} + i * 4096))
    ctypes.memset(large[-1], 1, {BLOCK})
    pins.append(libc.malloc(4096))
for block in large:
    libc.free(block)
rss = next(l for l in open("/proc/self/status") if l.startswith("VmRSS"))
print(int(rss.split()[1]) // 1024)
"""


def _resident_mib_after_freeing(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout)


def test_freed_large_buffers_go_back_to_the_system_once_the_threshold_is_fixed() -> None:
    kept = _resident_mib_after_freeing("glibc default")
    returned = _resident_mib_after_freeing("fixed")
    held_mib = BLOCKS * BLOCK // 2**20
    assert kept - returned > held_mib // 2, (kept, returned)
