"""Load rule files: YAML with positions -> schema -> cross-key checks, every problem located.

``validate_text`` / ``validate_file`` return the rule (or None) and ALL issues of the file,
sorted by position; ``load_rule`` raises one :class:`RuleValidationError` carrying them.
Pydantic's errors are translated here into the trader's words (``missing required key``,
``unknown key ... did you mean``, ``expected a whole number``) at the line and column of the
key or value they are about.
"""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from ita_desktop import validated_cache
from ita_desktop.rules.checks import check_rule, rule_warnings
from ita_desktop.rules.rule_issues import RuleIssue, RuleValidationError, described, shown, sort_issues
from ita_desktop.rules.schema import STEP_MODELS, Rule
from ita_desktop.domain.versioning import RuleVersion, content_hash, version_from_path
from ita_desktop.rules.vocabulary import did_you_mean
from ita_desktop.rules.yaml_source import Path_, SourceMap, describe_path as _where, parse_yaml

RULE_SUFFIXES = (".yaml", ".yml")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedRule:
    """A valid rule with where it came from and its version record."""

    path: Path
    rule: Rule
    version: RuleVersion


def repo_rules_dir() -> Path:
    """The rules/ folder shipped beside the package (the seed setups)."""
    return Path(__file__).resolve().parents[2] / "rules"


def validate_text(text: str, file: str | Path = "<text>") -> tuple[Rule | None, list[RuleIssue]]:
    """The rule in ``text`` and every problem found in it (the rule is None when there is any)."""
    file = str(file)
    data, smap, issues = parse_yaml(text, file)
    if data is None:
        return None, sort_issues(issues)
    if not isinstance(data, dict):
        return None, sort_issues(issues + [RuleIssue(1, 1, f"expected a rule (a mapping of keys), got {described(data)}", file)])
    rule: Rule | None = None
    try:
        rule = Rule.model_validate(data)
    except ValidationError as exc:
        issues += [_translate(err, data, smap, file) for err in exc.errors()]
    try:
        issues += check_rule(data, smap, file)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        # The cross-key checks assume the shape the schema checks; when the schema has already
        # reported the file's shape as wrong, a check tripping on that shape adds nothing to say.
        if rule is not None:
            raise
        log.debug("cross-key checks skipped on a rule whose shape is wrong", exc_info=True)
    issues += _path_agreement(data, smap, file)
    issues = sort_issues(issues)
    return (rule if not issues else None), issues


def warnings_of_text(text: str, file: str | Path = "<text>") -> list[RuleIssue]:
    """The rule's warnings (checks.rule_warnings): legal values that are likely slips, located."""
    data, smap, _issues = parse_yaml(text, str(file))
    return rule_warnings(data, smap, str(file)) if isinstance(data, dict) else []


def warnings_of_file(path: str | Path) -> list[RuleIssue]:
    try:
        return warnings_of_text(Path(path).read_text(encoding="utf-8-sig"), path)
    except (OSError, UnicodeDecodeError):
        return []


def validate_file(path: str | Path) -> tuple[Rule | None, list[RuleIssue]]:
    """As :func:`validate_text` for a file; an unreadable file is one issue at 1:1."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RuleIssue(1, 1, f"cannot read the rule file: {exc}", str(path))]
    return validate_text(text, path)


#: The modules whose code decides whether a rule file is valid and what model it makes (validated_cache's stamp;
#: a test checks that it names every module ``import ita_desktop.rules.loader`` brings in).
VALIDATING_MODULES = (
    "ita_desktop.config", "ita_desktop.detectors.objects", "ita_desktop.domain.clock", "ita_desktop.domain.errors",
    "ita_desktop.domain.timeframes", "ita_desktop.domain.versioning", "ita_desktop.paths", "ita_desktop.rules.checks",
    "ita_desktop.rules.loader", "ita_desktop.rules.rule_issues", "ita_desktop.rules.schema",
    "ita_desktop.rules.vocabulary", "ita_desktop.rules.yaml_source",
)


def load_rule(path: str | Path) -> LoadedRule:
    """The valid rule at ``path`` with its :class:`RuleVersion`; RuleValidationError lists every problem.

    With ``validated_cache`` on (``ita``'s command line), a file already found valid, byte for byte and by this
    code, is read back instead of validated again (an invalid file is never kept: its errors are always fresh)."""
    path = Path(path)
    cached, key = _cached_rule(path)
    if cached is not None:
        return cached
    rule, issues = validate_file(path)
    if rule is None:
        raise RuleValidationError(path, issues)
    text = path.read_text(encoding="utf-8-sig")
    version = RuleVersion(rule_id=rule.rule_id, version=rule.version, content_hash=content_hash(text), text=text)
    if key is not None:
        validated_cache.keep("rule", *key, (rule, version))
    return LoadedRule(path=path, rule=rule, version=version)


def _cached_rule(path: Path) -> tuple[LoadedRule | None, tuple[bytes, bytes] | None]:
    """The rule kept for ``path`` as given and its exact bytes, and the cache key (None when the cache is off)."""
    if not validated_cache.enabled():
        return None, None
    try:
        data = str(path).encode("utf-8", "surrogateescape") + b"\0" + path.read_bytes()
    except OSError:
        return None, None
    from ita_desktop.config import DEFAULTS_FILE  # the session names the checks accept come from it

    stamp = validated_cache.code_stamp(VALIDATING_MODULES, (DEFAULTS_FILE,))
    kept = validated_cache.fetch("rule", stamp, data)
    if (isinstance(kept, tuple) and len(kept) == 2 and isinstance(kept[0], Rule)
            and isinstance(kept[1], RuleVersion)):
        return LoadedRule(path=path, rule=kept[0], version=kept[1]), (stamp, data)
    return None, (stamp, data)


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and the rule files under folders given (sorted); a missing path is kept to be reported."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in RULE_SUFFIXES)
        else:
            out.append(p)
    return out


# -- path agreement ------------------------------------------------------------------------

def _path_agreement(data: dict[str, Any], smap: SourceMap, file: str) -> list[RuleIssue]:
    """rules/<rule_id>/v<version>.yaml must agree with the file's rule_id and version."""
    where = version_from_path(file)
    if where is None:
        return []
    folder, version = where
    issues = []
    if isinstance(data.get("version"), str) and data["version"] != version:
        p = smap.value(("version",))
        issues.append(RuleIssue(p.line, p.column, f"version {data['version']!r} does not match the file name "
                                f"v{version}{Path(file).suffix}", file))
    if isinstance(data.get("rule_id"), str) and data["rule_id"] != folder:
        p = smap.value(("rule_id",))
        issues.append(RuleIssue(p.line, p.column, f"rule_id {data['rule_id']!r} does not match its folder {folder!r}", file))
    return issues


# -- pydantic errors in the trader's words ---------------------------------------------------

def _translate(err: dict[str, Any], data: Any, smap: SourceMap, file: str) -> RuleIssue:
    loc = tuple(err["loc"])
    path, on_key, model = _resolve(loc)
    kind, value = err["type"], err.get("input")
    where = _where(path)
    at_key = on_key
    if kind == "missing":
        parent, last = path[:-1], path[-1]
        if isinstance(last, int):
            message = f"{_where(parent)} needs {last + 1} values, [start, end]" if last == 1 else f"{where} is missing"
            at = smap.value(parent)
        else:
            message = f"missing required key {last!r} in {_where(parent)}"
            at = smap.key(parent) if parent else smap.value(())
        return RuleIssue(at.line, at.column, message, file)
    if kind == "extra_forbidden":
        key = path[-1]
        message = f"unknown key {shown(key)} in {_where(path[:-1])}" + _key_hint(str(key), model)
        at_key = True
    elif kind == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        path = path + ("event",)
        message = f"unknown event {shown(tag)}{did_you_mean(str(tag)[:100], STEP_MODELS)}; expected one of {', '.join(STEP_MODELS)}"
    elif kind == "union_tag_not_found":
        message = f"missing required key 'event' in {where}; expected one of {', '.join(STEP_MODELS)}"
        at_key = True
    elif kind in ("literal_error", "enum"):
        expected = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        message = f"expected one of {expected}, got {shown(value)}{did_you_mean(str(value)[:100], expected.split(', '))}"
    elif kind == "value_error":
        message = str(err["ctx"]["error"])
    else:
        message = _plain(kind, err, value)
    pos = smap.key(path) if at_key else smap.value(path)
    return RuleIssue(pos.line, pos.column, f"{where}: {message}" if kind not in ("extra_forbidden", "union_tag_not_found") and path else message, file)


def _plain(kind: str, err: dict[str, Any], value: Any) -> str:
    ctx = err.get("ctx") or {}
    got = described(value)
    simple = {
        "int_type": "expected a whole number", "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number", "int_parsing_size": "expected a whole number of a sensible size",
        "float_type": "expected a number", "finite_number": "expected a finite number",
        "float_parsing": "expected a number", "string_type": "expected text", "bool_type": "expected true or false",
        "bool_parsing": "expected true or false", "list_type": "expected a list", "tuple_type": "expected a list",
        "dict_type": "expected a mapping of keys", "model_type": "expected a mapping of keys",
        "model_attributes_type": "expected a mapping of keys",
    }
    if kind in simple:
        return f"{simple[kind]}, got {got}"
    if kind == "greater_than":
        return f"expected a number greater than {ctx['gt']:g}, got {got}"
    if kind == "greater_than_equal":
        return f"expected a number of at least {ctx['ge']:g}, got {got}"
    if kind == "less_than_equal":
        return f"expected a number of at most {ctx['le']:g}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx['min_length']} item(s), got {ctx.get('actual_length', 0)}"
    if kind == "too_long":
        return f"expected at most {ctx['max_length']} item(s), got {ctx.get('actual_length')}"
    if kind == "string_too_short":
        return "expected text, got an empty value"
    return err["msg"]


def _key_hint(key: str, model: Any) -> str:
    allowed = _allowed_keys(model)
    if not allowed:
        return ""
    if model in STEP_MODELS.values():
        owners = [e for e, m in STEP_MODELS.items() if key in _allowed_keys(m)]
        event = next(e for e, m in STEP_MODELS.items() if m is model)
        if owners:
            return f": it is not allowed on a {event} step (only on {', '.join(owners)})"
    hint = did_you_mean(key, allowed)
    return hint if hint else f"; expected one of {', '.join(allowed)}"


def _allowed_keys(model: Any) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _strip(tp: Any) -> Any:
    """Remove Annotated and Optional wrappers; keep a union of several models as it is."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _resolve(loc: tuple[Any, ...]) -> tuple[Path_, bool, Any]:
    """Pydantic ``loc`` -> (path in the data, whether it points at a dict key, model owning the last part)."""
    tp: Any = Rule
    path: list[Any] = []
    on_key = False
    owner: Any = Rule
    for part in loc:
        tp = _strip(tp)
        origin = typing.get_origin(tp)
        if part == "[key]":
            on_key = True
            continue
        if origin in (Union, types.UnionType) and isinstance(part, str) and part in STEP_MODELS:
            tp = STEP_MODELS[part]  # the discriminator's tag: not a key in the file
            continue
        owner = tp
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            tp = field.annotation if field else Any
        elif origin in (list, tuple):
            args = typing.get_args(tp)
            tp = args[min(part, len(args) - 1)] if isinstance(part, int) and args else Any
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            tp = Any
        path.append(part)
    last_owner = _strip(owner)
    return tuple(path), on_key, last_owner

