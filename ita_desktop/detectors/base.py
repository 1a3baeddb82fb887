"""Python side of the step kernels: growable buffers and the run-until-done loop.

A detector object owns its state (``ist``/``fst`` vectors, the row buffer, its life queues
and change log). ``run(ctx, i0, i1)`` advances it over bars ``[i0, i1)``; when the kernel
reports its buffer full (returns a bar before ``i1``), the buffers are doubled and the
kernel continues from that bar, so no object is ever dropped. A full pass is
``run(ctx, 0, n)``; a live update is ``run(ctx, n, n + 1)`` on the same state.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field

import numpy as np

from ita_desktop.detectors import _core
from ita_desktop.detectors.objects import OBJECT_DTYPE, Table

#: Initial number of rows a detector allocates per 1,000 bars of input (at least 64).
DEFAULT_ROWS_PER_1000_BARS = 40


#: Below this many bytes a buffer is an ordinary np.zeros (the heap serves it without a system call). From
#: 64 KB on a mapping is cheaper: np.zeros served from memory a previous pass freed clears all of it (calloc),
#: ~5 MB of change logs and queues a 1M-bar pass then touches only at their heads.
LAZY_MIN_BYTES = 1 << 16
#: Private anonymous pages where the platform has them: Python's mmap(-1, n) is MAP_SHARED on POSIX, whose
#: pages are shared memory (tmpfs), slower to fault in and to unmap than private ones.
_MAP_FLAGS = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}


def lazy_zeros(shape: int | tuple[int, ...], dtype: type) -> np.ndarray:
    """A zeroed array whose memory the OS maps 4 KB at a time as it is first written, for large buffers
    of which only the head is used (life queues, change logs, raids in progress).

    ``np.empty`` asks the kernel for huge pages from 4 MB on, so the first write to each queue head
    faults in and clears 2 MB; ``np.zeros`` is calloc, which clears the whole buffer when the heap
    serves it (as it does once glibc has raised its mmap threshold after the previous pass freed one).
    An anonymous mmap is neither: measured on a (4, 350,000) queue array touched at its heads, 6.3 MB
    resident from ``np.empty`` against 0.1 MB here; the clearing was about a tenth of a full pass.
    The mapping is released with the array.
    """
    dt = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(shape)) * dt.itemsize
    if nbytes < LAZY_MIN_BYTES:
        return np.zeros(shape, dt)
    return np.frombuffer(mmap.mmap(-1, nbytes, **_MAP_FLAGS), dt).reshape(shape)


def grown(arr: np.ndarray, capacity: int, keep: int) -> np.ndarray:
    """A new ``capacity``-long array of ``arr``'s dtype holding its first ``keep`` entries (the rest unwritten: a
    buffer's used prefix carried over when it grows)."""
    out = np.empty(capacity, arr.dtype)
    out[:keep] = arr[:keep]
    return out


@dataclass
class BarContext:
    """The bar columns and shared series that kernels read (arrays may be longer than ``n``)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    time: np.ndarray
    n: int
    series: dict[str, np.ndarray] = field(default_factory=dict)


class ObjectBuffers:
    """Row buffer + change log + life queues, all sized to the same capacity.

    The rows are allocated with ``np.empty``: the kernels write every field of a row they add, and
    only the used prefixes are copied when the buffers grow, so untouched capacity costs no time (the
    OS maps pages on first write). The change log and the life queues are touched only at their
    heads (a few entries to a few thousand), so they come from :func:`lazy_zeros`.
    """

    def __init__(self, capacity: int, n_heaps: int = 4, heap_slots: tuple[int, ...] | None = None) -> None:
        capacity = max(int(capacity), 64)
        self.out = np.empty(capacity, dtype=OBJECT_DTYPE)
        self.chg = lazy_zeros(capacity, np.int32)
        self.hk = lazy_zeros((n_heaps, capacity), np.float64)
        self.hid = lazy_zeros((n_heaps, capacity), np.int32)
        self.ist = np.zeros(_core.IST_SIZE, dtype=np.int64)
        self.ist[_core.LAST] = -1
        self.fst = np.zeros(8, dtype=np.float64)
        # ist slots holding each queue's size (to copy only the used part on growth)
        self.heap_slots = heap_slots or (_core.H0, _core.H1, _core.H2, _core.H3)[:n_heaps]

    @property
    def capacity(self) -> int:
        return len(self.out)

    def grow(self, min_size: int | None = None) -> None:
        new = max(2 * self.capacity, int(min_size or 0))
        n_out = self.n_out
        out = grown(self.out, new, n_out)
        n_chg = int(self.ist[_core.N_CHG])
        chg = lazy_zeros(new, np.int32)
        chg[:n_chg] = self.chg[:n_chg]
        hk = lazy_zeros((self.hk.shape[0], new), np.float64)
        hid = lazy_zeros((self.hid.shape[0], new), np.int32)
        for h, slot in enumerate(self.heap_slots):
            m = int(self.ist[slot])
            hk[h, :m] = self.hk[h, :m]
            hid[h, :m] = self.hid[h, :m]
        self.out, self.chg, self.hk, self.hid = out, chg, hk, hid

    @property
    def n_out(self) -> int:
        return int(self.ist[_core.N_OUT])

    @property
    def rows(self) -> np.ndarray:
        return self.out[: self.n_out]

    @property
    def changed_index(self) -> np.ndarray:
        return self.chg[: int(self.ist[_core.N_CHG])]


class ObjectDetector:
    """Base for detectors that write OBJECT_DTYPE rows. Subclasses implement ``_step``."""

    name: str = ""
    table: Table = Table.NONE
    rows_per_1000_bars: int = DEFAULT_ROWS_PER_1000_BARS
    #: life queues the kernel keeps (0 for detectors whose rows have no price-watched life)
    n_heaps: int = 4

    def __init__(self, n_hint: int = 0) -> None:
        self.buf = ObjectBuffers(n_hint * self.rows_per_1000_bars // 1000 + 64, n_heaps=self.n_heaps)

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self, ctx: BarContext, i0: int, i1: int) -> None:
        """Hook run once before the kernel loop (e.g. to pull new levels)."""

    def run(self, ctx: BarContext, i0: int, i1: int) -> None:
        self._prepare(ctx, i0, i1)
        i = i0
        while i < i1:
            i = int(self._step(ctx, i, i1))
            if i < i1:
                self.buf.grow()

    @property
    def rows(self) -> np.ndarray:
        return self.buf.rows

    @property
    def changed_index(self) -> np.ndarray:
        return self.buf.changed_index

    def last_bar(self) -> int:
        return int(self.buf.ist[_core.LAST])


class StaticTable:
    """A fixed table posing as a producer detector (e.g. swings from elsewhere fed to Structure)."""

    def __init__(self, rows: np.ndarray) -> None:
        from ita_desktop.detectors.objects import OBJECT_DTYPE

        rows = np.ascontiguousarray(rows)
        if rows.dtype != OBJECT_DTYPE:
            raise TypeError("StaticTable needs OBJECT_DTYPE rows")
        if len(rows) > 1 and np.any(np.diff(rows["confirmed_at"]) < 0):
            raise ValueError("producer rows must be in confirmed_at order")
        self.buf = type("Buf", (), {})()
        self.buf.out = rows
        self.buf.n_out = len(rows)
        self.rows = rows
