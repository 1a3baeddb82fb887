"""What a stored run needs to be shown again without recomputing it: arrays and JSON beside the SQLite file.

The ``runs`` and ``trades`` tables keep what is queried (statistics, trade records); the arrays
the Results panel and the chart draw from (the simulation's trade rows and orders, the bar times
of the range, the setup occurrences) are kept as one compressed ``.npz`` per run in the data
folder's ``runs/``: written once after the run's rows, read back by ``core.runs.reopen``. Plain
arrays and a JSON text in, the same out: this module knows nothing of trades or rules.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

META = "meta_json"


class RunArtifacts:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, run_id: int) -> Path:
        return self.folder / f"run_{int(run_id)}.npz"

    def save(self, run_id: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
        """Write atomically (a temporary file renamed): a reader never sees half a run."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(run_id)
        tmp = target.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays, **{META: np.array(json.dumps(meta))})
        os.replace(tmp, target)
        return target

    def load(self, run_id: int) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The arrays and meta saved for ``run_id``, or None when the run has none (stored by an older version)."""
        target = self.path(run_id)
        if not target.is_file():
            return None
        with np.load(target, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != META}
            meta = json.loads(str(data[META])) if META in data.files else {}
        return arrays, meta
