"""Validated rule and settings models kept between `ita` runs (ita_desktop/validated_cache.py).

A kept model is used only for the same bytes under the same code: a changed rule, config, module or
version misses; a damaged or foreign entry is ignored and written again; an invalid file is never
kept and reports exactly what it reports without the cache. Fresh processes show that a hit builds
no pydantic validator and that the real `ita backtest` prints and stores the same run.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ita_desktop import validated_cache
from ita_desktop.config import SETTINGS_MODULES, Settings, load_settings
from ita_desktop.domain.errors import InputError
from ita_desktop.paths import app_paths
from ita_desktop.rules import loader
from ita_desktop.rules.loader import VALIDATING_MODULES, load_rule, repo_rules_dir
from ita_desktop.rules.rule_issues import RuleValidationError
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def cache(tmp_path: Path):
    """The cache on, in a folder of the test's own; off again afterwards (as for every library caller)."""
    validated_cache.enable(tmp_path / "cache")
    yield tmp_path / "cache" / validated_cache.FOLDER_NAME
    validated_cache.enable(None)


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    """A copy of the shipped asia_sweep where its path agrees with it (rules/<rule_id>/v<version>.yaml)."""
    src = max((repo_rules_dir() / "asia_sweep").glob("v*.yaml"))
    dst = tmp_path / "rules" / "asia_sweep" / src.name
    dst.parent.mkdir(parents=True)
    shutil.copyfile(src, dst)
    return dst


def _validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Count the rule validations load_rule runs from now on."""
    seen: list[Path] = []
    real = loader.validate_file

    def counted(path):
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(loader, "validate_file", counted)
    return seen


def test_a_kept_rule_is_the_validated_one_and_any_changed_byte_misses(cache, rule_file, monkeypatch) -> None:
    validated = _validations(monkeypatch)
    first = load_rule(rule_file)
    again = load_rule(rule_file)
    assert len(validated) == 1 and len(list(cache.glob("rule-*.pickle"))) == 1
    assert again.rule == first.rule and again.version == first.version and again.path == rule_file
    validated_cache.enable(None)
    assert load_rule(rule_file).rule == again.rule  # what validation makes today
    validated_cache.enable(cache.parent)

    rule_file.write_text(rule_file.read_text(encoding="utf-8") + "# a note\n", encoding="utf-8")
    changed = load_rule(rule_file)
    assert len(validated) == 3 and changed.version.text.endswith("# a note\n")
    assert changed.version.content_hash != first.version.content_hash


def test_an_invalid_rule_is_never_kept_and_reports_as_without_the_cache(cache, rule_file) -> None:
    text = rule_file.read_text(encoding="utf-8")
    load_rule(rule_file)  # the valid version is kept
    for broken in (text.replace("rule_id:", "rule_idd:", 1), text + "\n  bad: [unclosed\n"):
        rule_file.write_text(broken, encoding="utf-8")
        with pytest.raises(RuleValidationError) as cached_run:
            load_rule(rule_file)
        validated_cache.enable(None)
        with pytest.raises(RuleValidationError) as plain_run:
            load_rule(rule_file)
        validated_cache.enable(cache.parent)
        assert cached_run.value.located() == plain_run.value.located() and str(rule_file) in plain_run.value.located()
    assert len(list(cache.glob("rule-*.pickle"))) == 1


def test_a_damaged_or_foreign_entry_is_ignored_and_written_again(cache, rule_file, monkeypatch) -> None:
    good = load_rule(rule_file)
    (entry,) = cache.glob("rule-*.pickle")
    validated = _validations(monkeypatch)
    fmt, kind, stamp, digest, _value = pickle.loads(entry.read_bytes())
    for damaged in (b"", b"\x80\x05garbage", entry.read_bytes()[:40],
                    pickle.dumps((fmt, kind, stamp, digest, "not a rule")),
                    pickle.dumps((fmt + 1, kind, stamp, digest, _value)),
                    pickle.dumps((fmt, kind, stamp, b"another file's digest", _value))):
        entry.write_bytes(damaged)
        assert load_rule(rule_file).rule == good.rule
    assert len(validated) == 6
    assert load_rule(rule_file).rule == good.rule and len(validated) == 6  # rewritten: a hit again


def test_the_stamp_changes_with_the_code_the_versions_and_the_data_files(tmp_path, monkeypatch) -> None:
    module = tmp_path / "validating_module.py"
    data = tmp_path / "defaults.yaml"
    module.write_text("X = 1\n")
    data.write_text("a: 1\n")
    fake = type(sys)("validating_module")
    fake.__file__ = str(module)
    monkeypatch.setitem(sys.modules, "validating_module", fake)
    build = tmp_path / "no_build_stamp.txt"

    def stamp(versions: str = "v1") -> bytes:
        return validated_cache._stamp(("validating_module",), (data,), versions, build)

    base = stamp()
    assert base and stamp() == base and stamp("v2") != base
    module.write_text("X = 2\n")
    assert stamp() != base
    module.write_text("X = 1\n")
    data.write_text("a: 2\n")
    assert stamp() not in (base, b"")
    data.write_text("a: 1\n")
    assert stamp() == base
    fake.__file__ = str(tmp_path / "gone.pyc")  # no source and no build stamp: never reused
    assert stamp() == b""
    build.write_text("build-7")  # a frozen build: its stamp names the code
    assert stamp() not in (base, b"")


def test_a_new_app_version_misses(cache, rule_file, monkeypatch) -> None:
    import ita_desktop

    load_rule(rule_file)
    validated = _validations(monkeypatch)
    monkeypatch.setattr(ita_desktop, "__version__", ita_desktop.__version__ + ".post1")
    monkeypatch.setattr(validated_cache, "_stamps", {})
    load_rule(rule_file)
    assert len(validated) == 1 and len(list(cache.glob("rule-*.pickle"))) == 2


def test_the_stamps_name_every_module_that_validates() -> None:
    """Every app module a rule's or the settings' validation imports is in its stamp (a new one must be added)."""
    probe = ("import json, sys, ita_desktop\nbefore = set(sys.modules)\nimport {m}\n"
             "print(json.dumps(sorted(n for n in set(sys.modules) - before if n.startswith('ita_desktop.'))))")
    for module, named in (("ita_desktop.rules.loader", VALIDATING_MODULES), ("ita_desktop.config", SETTINGS_MODULES)):
        out = subprocess.run([sys.executable, "-c", probe.format(m=module)], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        loaded = set(json.loads(out.stdout)) - {"ita_desktop.validated_cache"}  # its FORMAT is in the stamp
        packages = {n for n in loaded if hasattr(importlib.import_module(n), "__path__")}
        assert module in named and loaded - packages - set(named) == set(), module


def test_kept_settings_follow_the_user_file(ita_home, cache, monkeypatch) -> None:
    calls: list[int] = []
    real = Settings.model_validate
    monkeypatch.setattr(Settings, "model_validate", classmethod(lambda cls, data: calls.append(1) or real(data)))
    paths = app_paths().ensure()
    assert load_settings(paths) == load_settings(paths) and len(calls) == 1
    paths.user_config_file.write_text("ui:\n  theme: light\n", encoding="utf-8")
    assert load_settings(paths).ui.theme == "light" and len(calls) == 2
    assert load_settings(paths).ui.theme == "light" and len(calls) == 2
    paths.user_config_file.write_text("ui:\n  theme: [light\n", encoding="utf-8")
    with pytest.raises(InputError) as cached_run:
        load_settings(paths)
    validated_cache.enable(None)
    with pytest.raises(InputError) as plain_run:
        load_settings(paths)
    assert str(cached_run.value) == str(plain_run.value) and "config.yaml" in str(plain_run.value)
    validated_cache.enable(cache.parent)
    paths.user_config_file.write_text("ui:\n  theme: light\n", encoding="utf-8")
    for entry in cache.glob("settings-*.pickle"):
        entry.write_bytes(b"torn")
    assert load_settings(paths).ui.theme == "light" and len(calls) == 3


def test_off_unless_enabled(ita_home, rule_file) -> None:
    assert not validated_cache.enabled()
    load_rule(rule_file)
    load_settings()
    assert not (app_paths().cache / validated_cache.FOLDER_NAME).exists()


COMMAND_LINE = """
import atexit, json, os, sys


def report():  # at exit: a kernel command ends the process right after its exit functions (cli.main)
    from ita_desktop.config import Settings
    from ita_desktop.rules.schema import Rule
    import threadpoolctl
    blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    print(json.dumps({"built": [Rule.__pydantic_complete__, Settings.__pydantic_complete__], "blas": blas,
                      "variable": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "metadata": type(sys.modules["importlib.metadata"]).__name__}), file=sys.stderr)


atexit.register(report)
from ita_desktop.cli.main import main
sys.exit(main())
"""


@pytest.mark.realdata
def test_the_command_line_keeps_them_and_a_warm_backtest_builds_no_validator(ita_home, eurusd_csv, capsys) -> None:
    from ita_desktop.cli.main import main

    assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz=-03:30"]) == 0
    capsys.readouterr()
    args = ["backtest", "asia_sweep", "--symbol", "EURUSD", "--json"]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                                            "OMP_NUM_THREADS")}
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", COMMAND_LINE, *args], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append((json.loads(out.stdout), json.loads(out.stderr.strip().splitlines()[-1])))
    (first, _), (second, probe) = runs
    assert probe == {"built": [False, False], "blas": [1], "variable": None, "metadata": "_LazyModule"}
    assert {p.name.split("-")[0] for p in (ita_home / "cache" / validated_cache.FOLDER_NAME).iterdir()} == {
        "rule", "settings"}
    assert main(args) == 0  # in this process, the cache off: validated as ever
    here = json.loads(capsys.readouterr().out)
    for result in (first, second, here):
        result.pop("run_id")
    assert first == second == here and len(here["trades"]) >= 2
