"""A short sound per notification kind: resources/sounds/<kind>.wav played with QSoundEffect.

QtMultimedia is imported on first use, not at start-up (it loads the audio back-end), and where it
cannot load (no libpulse on a bare Linux, a frozen app without the plugin) the sounds are off and
``why`` says so in the status bar instead of failing the tray.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QUrl

from ita_desktop.ui.theme import resources_dir

log = logging.getLogger(__name__)

#: the kinds that have a sound of their own; any other update plays ``update``
SOUND_KINDS = ("signal", "filled", "target", "stop", "update")


def sound_file(kind: str) -> Path:
    return resources_dir() / "sounds" / f"{kind if kind in SOUND_KINDS else 'update'}.wav"


class TraySounds(QObject):
    """``play(kind)`` unless muted; ``played`` lists the kinds played (the tray's tests and the list read it)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.muted = False
        self.why: str | None = None  # why sounds are unavailable, once known
        self.played: list[str] = []
        self._effects: dict[str, Any] = {}
        self._class: Any = None

    def _effect(self, kind: str) -> Any:
        if self._class is None and self.why is None:
            try:
                from PySide6.QtMultimedia import QSoundEffect

                self._class = QSoundEffect
            except ImportError as exc:  # e.g. libpulse.so.0 missing on Linux
                self.why = f"No sounds: QtMultimedia could not load ({exc})"
                log.warning("%s", self.why)
        if self._class is None:
            return None
        name = kind if kind in SOUND_KINDS else "update"
        effect = self._effects.get(name)
        if effect is None:
            effect = self._class(self)
            effect.setSource(QUrl.fromLocalFile(str(sound_file(name))))
            effect.setVolume(0.6)
            self._effects[name] = effect
        return effect

    def preload(self, kinds: tuple[str, ...] = SOUND_KINDS) -> None:
        """Load ``kinds``' sounds now, so the first signal's message is not held up by the audio back-end's
        start (the window loads QtMultimedia on a worker, then one sound per event-loop turn)."""
        for kind in kinds:
            self._effect(kind)

    def play(self, kind: str) -> bool:
        """Play the kind's sound; False when muted or sounds cannot play here."""
        if self.muted:
            return False
        effect = self._effect(kind)
        if effect is None:
            return False
        effect.play()
        self.played.append(kind)
        return True
