"""`ita --check-sounds` (frozen app only): load the tray's sounds as the window does and say whether they loaded.

The packaged app once lost its sounds without any check failing (QtMultimedia's binding could not import
PySide6.QtNetwork, which the build had left out; the tray only says so in the status bar). The smoke runs
this in the frozen folder: the same TraySounds class, resources/sounds/*.wav and QtMultimedia the window
uses; exit 0 only when every kind's QSoundEffect reached Ready (decoded and accepted by an audio output:
the Linux smoke gives it a PulseAudio null sink).
"""

from __future__ import annotations

import sys
import time

LOAD_TIMEOUT_S = 20.0


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    from ita_desktop.ui.tray_sounds import SOUND_KINDS, TraySounds, sound_file

    sounds = TraySounds()
    sounds.preload()
    if sounds.why is not None:
        print(f"tray sounds: NOT loaded: {sounds.why}")
        return 1
    from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

    effects = {kind: sounds._effect(kind) for kind in SOUND_KINDS}
    done = (QSoundEffect.Status.Ready, QSoundEffect.Status.Error)
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline and any(e.status() not in done for e in effects.values()):
        app.processEvents()
        time.sleep(0.01)
    states = {kind: e.status().name for kind, e in effects.items()}
    outputs = [d.description() for d in QMediaDevices.audioOutputs()]
    ready = [kind for kind, state in states.items() if state == "Ready"]
    print(f"tray sounds: {len(ready)} of {len(states)} loaded "
          f"({', '.join(f'{k} {s}' for k, s in states.items())}); audio outputs: {', '.join(outputs) or 'none'}")
    missing = [str(sound_file(kind)) for kind in SOUND_KINDS if not sound_file(kind).is_file()]
    if missing:
        print(f"tray sounds: files not bundled: {', '.join(missing)}")
    return 0 if len(ready) == len(states) and not missing else 1
