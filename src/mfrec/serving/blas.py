"""Pin the BLAS libraries numpy (and MXNet) loaded to one thread.

Each gunicorn worker already handles requests on several threads and there is one worker per
CPU; OpenBLAS's own thread pool on top of that oversubscribes the CPUs and made a top-10 call
2-5x slower under load. OPENBLAS_NUM_THREADS only works before the library loads, which happens
at import, so the running libraries are told directly (what threadpoolctl does).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_", "openblas_set_num_threads_")


def loaded_openblas_paths() -> list[str]:
    maps = Path(f"/proc/{os.getpid()}/maps")
    if not maps.exists():
        return []
    paths = {line.split(maxsplit=5)[-1].strip() for line in maps.read_text().splitlines() if "openblas" in line.lower()}
    return sorted(path for path in paths if path.startswith("/"))


def limit_blas_threads(threads: int) -> list[str]:
    """Set every loaded OpenBLAS to `threads` threads; the libraries it changed."""
    changed = []
    for path in loaded_openblas_paths():
        library = ctypes.CDLL(path)
        setter = next((getattr(library, name) for name in SETTERS if hasattr(library, name)), None)
        if setter is not None:
            setter(ctypes.c_int(threads))
            changed.append(path)
    return changed
