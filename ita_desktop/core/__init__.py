"""The headless core: ``Core(settings, paths)`` and its services; the window and the CLI are faces over it.

Import ``Core`` from ``ita_desktop.core.app_core``; this package re-exports nothing, so importing
one service does not pull in the others.
"""
