"""Native libraries the frozen app loads before Qt's: llvmlite (numba's LLVM) and onnxruntime if bundled.

On Windows, whichever DLL loads first decides which copy of the shared C++ runtime (msvcp140,
vcruntime140_1) a process uses; PySide6's wheel brings its own, and llvmlite or onnxruntime
loaded after it fail with "DLL initialization routine failed" (WinError 1114). Loading them
first is the known cure. Only the DLLs are loaded (no numba import), so start-up stays light.
"""

import importlib.util
import os
import sys


def load_native_libraries_before_qt() -> None:
    # Chroma (`ita learn`, the similar-setups index) never phones home from the app: the index's own
    # Settings say so too; this covers any client made without them.
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if sys.platform != "win32":
        return  # the order matters only for Windows DLLs
    from llvmlite.binding import ffi

    ffi.lib._load_lib()  # llvmlite loads its DLL lazily, on first use: load it now
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime  # noqa: F401
