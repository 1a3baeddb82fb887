"""docs/module_list.md names every module of the package, so the list cannot silently go stale."""

from __future__ import annotations

import re

from tests.conftest import PROJECT_ROOT


def test_every_module_is_in_the_module_list():
    listed = set(re.findall(r"`(ita_desktop/[\w/]+\.py)`", (PROJECT_ROOT / "docs" / "module_list.md").read_text()))
    modules = {p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "ita_desktop").rglob("*.py")
               if p.name != "__init__.py" or p.stat().st_size > 200}
    assert sorted(modules - listed) == [], "add these modules to docs/module_list.md"
    assert sorted(listed - modules) == [], "these modules in docs/module_list.md no longer exist"
