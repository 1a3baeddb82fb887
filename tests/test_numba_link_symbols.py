"""A cached kernel's linking module parsed on first link, its defined names read from a kept file (numba_link_symbols).

Fresh processes over a kernel cache of the test's own: the names a load defines equal numba's own
load's, a later compile that calls the cached kernel links it and computes the same, and a damaged
names file falls back to numba's load and is written again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PROBE = """
import json, numpy as np
import ita_desktop
from ita_desktop.detectors.dispatcher import _first_not_increasing
from numba import njit

a = np.array([1, 3, 2, 5], dtype=np.int64)
direct = int(_first_not_increasing(a, 4))  # the cached kernel's load
library = next(iter(_first_not_increasing.overloads.values())).library
names = sorted(library._codegen._engine._defined_symbols)
pending = "_ita_linking_bitcode" in library.__dict__

@njit
def outer(a, n):
    return _first_not_increasing(a, n) + 100

linked = int(outer(a, 4))  # compiles, linking the cached kernel's module in
print(json.dumps({"direct": direct, "linked": linked, "names": names, "pending": pending,
                  "parsed": library._shared_module is not None and "_ita_linking_bitcode" not in library.__dict__}))
"""


def _run(cache: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "ITA_NUMBA_FULL_START")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={**base, "NUMBA_CACHE_DIR": str(cache), **env}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_cached_load_defines_numbas_names_without_parsing_and_a_later_link_parses(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    _run(cache, ITA_NUMBA_FULL_START="1")  # compiles and caches the kernel
    own = _run(cache, ITA_NUMBA_FULL_START="1")  # numba's own load
    assert not own["pending"] and own["direct"] == 2 and own["linked"] == 102  # [1, 3, 2, 5]: index 2
    files = lambda: sorted(cache.rglob("link-symbols/*.pickle"))  # noqa: E731
    assert files() == []

    writes = _run(cache)  # no names kept yet: numba's load, and the names written
    assert not writes["pending"] and files()
    kept = _run(cache)
    assert kept["pending"] is True and kept["parsed"] is True  # loaded without the parse; parsed when linked
    for run in (writes, kept):
        assert (run["direct"], run["linked"]) == (own["direct"], own["linked"])
        assert set(own["names"]) <= set(run["names"])  # + the outer function's own names after its compile
    assert set(kept["names"]) == set(writes["names"])

    for i, path in enumerate(files()):
        path.write_bytes([b"", b"\x80\x05junk", path.read_bytes()[:-7]][i % 3])
    damaged = _run(cache)
    assert not damaged["pending"] and (damaged["direct"], damaged["linked"]) == (2, 102)
    assert _run(cache)["pending"] is True  # written again


NAMES_PROBE = """
import json, numpy as np, sys
import ita_desktop
from ita_desktop.detectors.dispatcher import _first_not_increasing
_first_not_increasing(np.arange(3), 3)
library = next(iter(_first_not_increasing.overloads.values())).library
print(json.dumps(sorted(library._codegen._engine._defined_symbols)))
"""


def test_the_names_after_a_kept_load_are_exactly_numbas(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "ITA_NUMBA_FULL_START")}
    runs = []
    for full in ("1", "1", "0", "0"):
        out = subprocess.run([sys.executable, "-c", NAMES_PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             env={**base, "NUMBA_CACHE_DIR": str(cache), "ITA_NUMBA_FULL_START": full}, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout))
    # numba's own load (2nd), the app's load writing the names (3rd), the app's load reading them (4th)
    assert runs[1] == runs[2] == runs[3] and len(runs[1]) > 10
