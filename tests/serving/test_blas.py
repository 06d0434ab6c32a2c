import ctypes

import numpy as np

from mfrec.serving.blas import loaded_openblas_paths, limit_blas_threads


def _threads(path: str) -> int:
    library = ctypes.CDLL(path)
    getter = next(getattr(library, name) for name in ("openblas_get_num_threads", "openblas_get_num_threads64_") if hasattr(library, name))
    return getter()


def test_limit_blas_threads_sets_numpys_openblas_to_one_thread():
    np.ones((4, 4)) @ np.ones(4)
    changed = limit_blas_threads(1)
    assert changed and set(changed) <= set(loaded_openblas_paths())
    assert [_threads(path) for path in changed] == [1] * len(changed)
