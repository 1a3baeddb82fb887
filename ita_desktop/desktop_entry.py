"""The window's entry point: starts the kernel preparation before the window's imports, then the app.

On a first start (kernels not cached) the preparation process compiles for 10-20 s; the window's
own imports and set-up (Qt, pyqtgraph, the core, the main window: 1-3 s) would otherwise pass
before it even begins. ``kernel_service.prestart`` is a few file checks and a process start (no Qt,
no numba); the window's ``KernelService`` takes the running process over.
"""

from __future__ import annotations

import sys

INFO_FLAGS = ("--version", "-h", "--help")  # the app answers and exits: nothing to prepare


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not any(a in INFO_FLAGS for a in args):
        from ita_desktop.core.kernel_service import prestart

        prestart()
    from ita_desktop.app import main as window_main

    return window_main(argv)


if __name__ == "__main__":
    sys.exit(main())
