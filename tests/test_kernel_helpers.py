"""``detectors/_core.helper``: a helper that kernels call with constants compiles once, not once per constant.

numba types a constant argument of a call to an ``njit`` function as its own literal type, so
``new_row(..., 3, ...)`` and ``new_row(..., 4, ...)`` were two compiles each (the cache held new_row
x12). The same caller through ``helper`` must compile the helper once; through plain ``njit`` (the
control) it compiles it once per constant, which is what the helper is for.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.core import event


def _compiles(call, name: str) -> int:
    with event.install_recorder("numba:compile") as recorder:
        call()
    return sum(1 for _, ev in recorder.buffer if ev.is_start and ev.data["dispatcher"].py_func.__name__ == name)


def test_helper_compiles_once_for_calls_with_different_constants():
    from ita_desktop.detectors._core import helper, step_helper

    @helper
    def add_helper(a, k):
        return a + k

    @njit
    def caller(a):
        return add_helper(a, 1) + add_helper(a, 2) + add_helper(a, np.int64(3))

    assert _compiles(lambda: caller(10), "add_helper") == 1
    assert caller(10) == 36 and add_helper(10, 1) == 11  # from Python: plain Python, same result

    @step_helper  # NRT off, as the step kernels (detectors/_core.kernel)
    def put(out, i, v):
        out[i] = v

    @njit(_nrt=False)
    def fill(out):
        put(out, 0, 1.5)
        put(out, 1, 2.0)
        put(out, 2, -1.0)

    buf = np.zeros(3)
    assert _compiles(lambda: fill(buf), "put") == 1
    assert buf.tolist() == [1.5, 2.0, -1.0]


def test_plain_njit_callee_compiles_once_per_constant_control():
    """The control: what the kernels' helpers did before (the helper test above could not pass by accident)."""

    @njit
    def add_plain(a, k):
        return a + k

    @njit
    def caller(a):
        return add_plain(a, 1) + add_plain(a, 2)

    assert _compiles(lambda: caller(10), "add_plain") >= 2
