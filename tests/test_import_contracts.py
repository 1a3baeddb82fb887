"""The layering is enforced: import-linter's contracts (pyproject.toml) and who may read the settings file."""

from __future__ import annotations

import ast
import shutil
import subprocess

from tests.conftest import PROJECT_ROOT

#: Reading the user's settings file is the faces' business (they hand the settings to the Core).
#: data/csv_import.py: an import whose file leaves the server clock unsaid falls back to the
#: configured default there (owned by the importer; to be passed in by the core's ingest service).
SETTINGS_READERS = ("ita_desktop/app.py", "ita_desktop/cli/", "ita_desktop/ui/", "ita_desktop/config/",
                    "ita_desktop/data/csv_import.py")


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(PROJECT_ROOT / ".venv" / "bin")) or shutil.which("lint-imports")
    assert exe, "import-linter is a dev dependency: uv sync"
    done = subprocess.run([exe, "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_only_the_faces_read_the_settings_file() -> None:
    callers = []
    for path in sorted((PROJECT_ROOT / "ita_desktop").rglob("*.py")):
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "load_settings":
                callers.append(rel)
    assert callers, "the check found no caller at all: it no longer looks at the right thing"
    assert [c for c in callers if not c.startswith(SETTINGS_READERS)] == []


def test_no_two_modules_share_a_file_name() -> None:
    """A newcomer must not mix up two ``jobs.py`` (or ``runs.py``, ``errors.py`` ...) in different layers."""
    names: dict[str, list[str]] = {}
    for path in (PROJECT_ROOT / "ita_desktop").rglob("*.py"):
        if path.name != "__init__.py":
            names.setdefault(path.name, []).append(path.relative_to(PROJECT_ROOT).as_posix())
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
