"""The rule models read their field docstrings in one pass and build on first use: the same JSON Schema and the
same validation as pydantic's own ``use_attribute_docstrings`` (issue 19: a warm ``ita backtest`` pays less)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from ita_desktop.rules import schema
from ita_desktop.rules.json_schema import rule_json_schema
from tests.conftest import PROJECT_ROOT

CONFIG_LINE = '    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)\n'


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    """schema.py as it was: pydantic's ``use_attribute_docstrings``, built at import, no ``_describe_fields``."""
    source = Path(schema.__file__).read_text(encoding="utf-8")
    assert source.count(CONFIG_LINE) == 1 and source.rstrip().endswith("\n_describe_fields()")
    source = source.replace(CONFIG_LINE, CONFIG_LINE.replace("defer_build=True", "use_attribute_docstrings=True"))
    source = source.rstrip()[: -len("_describe_fields()")]
    path = tmp_path_factory.mktemp("oracle") / "rule_schema_oracle.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("rule_schema_oracle", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _models(module) -> dict[str, type]:
    return {n: c for n, c in vars(module).items()
            if isinstance(c, type) and issubclass(c, pydantic.BaseModel) and c.__module__ == module.__name__}


def test_every_field_has_the_description_pydantics_docstring_option_gives(oracle) -> None:
    ours, theirs = _models(schema), _models(oracle)
    assert ours.keys() == theirs.keys() and len(ours) > 20
    described = 0
    for name, cls in ours.items():
        got = {f: i.description for f, i in cls.model_fields.items()}
        assert got == {f: i.description for f, i in theirs[name].model_fields.items()}, name
        described += sum(d is not None for d in got.values())
    assert described > 80  # the docstrings were found at all
    assert schema.SweepStep.model_fields["within"].description == "Must happen within N bars after an earlier step."


def test_the_json_schema_is_the_one_pydantics_option_gives(oracle) -> None:
    expected = oracle.Rule.model_json_schema(by_alias=True, mode="validation")
    got = rule_json_schema()
    assert {k: v for k, v in got.items() if k not in ("$schema", "$id")} == expected
    assert json.dumps(got, indent=2) == json.dumps({"$schema": got["$schema"], "$id": got["$id"], **expected}, indent=2)


def test_a_rule_validates_and_fails_as_with_models_built_at_import(oracle) -> None:
    from ita_desktop.rules.yaml_source import parse_yaml

    path = PROJECT_ROOT / "rules" / "asia_sweep" / "v1.yaml"
    raw, _, issues = parse_yaml(path.read_text(encoding="utf-8"), path)
    assert not issues
    assert schema.Rule.model_validate(raw).model_dump() == oracle.Rule.model_validate(raw).model_dump()
    bad = {**raw, "risk": {"percent": 0}, "stop": {**raw["stop"], "buffer": {"pips": -1}}, "extra_key": 1}
    errors = []
    for rule in (schema.Rule, oracle.Rule):
        with pytest.raises(pydantic.ValidationError) as caught:
            rule.model_validate(bad)
        errors.append([(e["loc"], e["type"], e["msg"]) for e in caught.value.errors()])
    assert errors[0] == errors[1] and len(errors[0]) >= 3
    assert schema.Distance(pips=1.5).pips == 1.5  # a nested model used on its own builds on first use


def test_importing_the_rule_models_builds_none_of_them() -> None:
    probe = ("import sys, json; from ita_desktop.rules import schema as s; "
             "print(json.dumps(sorted(n for n, c in vars(s).items() if isinstance(c, type) "
             "and issubclass(c, s._Model) and c.__pydantic_complete__)))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == []
