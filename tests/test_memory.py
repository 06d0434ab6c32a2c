"""release_freed_memory: memory freed by the process goes back to the operating system."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
sys.path[:0] = {path!r}
from mfrec.memory import release_freed_memory

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

import numpy as np
# What pandas and numpy do while preparing reviews: a large array freed (glibc then serves
# arrays up to its size from the heap, not from mmap), many heap arrays freed between small
# ones that stay, so the heap cannot shrink from its top on its own.
del_me = np.ones(20_000_000 // 8)
del del_me
arrays, kept = [], []
for _ in range(30):
    arrays.append(np.ones(10_000_000 // 8))
    kept.append(np.ones(1_000))
del arrays
before = rss_mb()
release_freed_memory()
print(before - rss_mb())
"""


def test_freed_heap_memory_leaves_the_resident_set():
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(path=sys.path)], capture_output=True, text=True, check=True)
    assert int(result.stdout) > 50, result.stdout
