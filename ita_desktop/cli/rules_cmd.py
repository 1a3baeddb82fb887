"""`ita rules validate|schema|list`: check rule files, export the language's JSON Schema, list rules.

``validate`` prints ``file:line:col: message`` for every problem of every file (stdout, so an
editor or CI can parse it) and exits 1 if any; a valid file gets one ``OK`` line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from ita_desktop.rules.json_schema import rule_json_schema, write_json_schema
from ita_desktop.rules.loader import repo_rules_dir, rule_files, validate_file, warnings_of_file
from ita_desktop.domain.versioning import version_from_path, version_key


def register(subparsers: argparse._SubParsersAction) -> None:
    rules = subparsers.add_parser("rules", help="setup rules: validate, JSON Schema, list")
    sub = rules.add_subparsers(dest="rules_command", required=True)

    validate = sub.add_parser("validate", help="check rule files or folders; file:line:col: message per problem")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="rule files (.yaml) or folders holding them")
    validate.set_defaults(func=_validate)

    schema = sub.add_parser("schema", help="print (or write) the JSON Schema of the rule language")
    schema.add_argument("--out", type=Path, help="write to this file instead of printing")
    schema.set_defaults(func=_schema)

    listing = sub.add_parser("list", help="rules and their versions under a rules folder")
    listing.add_argument("--dir", type=Path, default=None,
                         help=f"one rules folder (default: the shipped {repo_rules_dir()} and your own, with where each comes from)")
    listing.set_defaults(func=_list)


def _validate(args: argparse.Namespace) -> int:
    files = rule_files(args.paths)
    if not files:
        print("error: no rule files (.yaml, .yml) found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    failed = 0
    for path in files:
        rule, issues = validate_file(path)
        if issues:
            failed += 1
            for issue in issues:
                print(issue.located())
        else:
            print(f"{path}: OK ({rule.rule_id} v{rule.version}, {len(rule.steps)} step{'s' if len(rule.steps) > 1 else ''})")
            for warning in warnings_of_file(path):
                print(warning.located())
    if failed:
        print(f"{failed} of {len(files)} rule file(s) have errors", file=sys.stderr)
    return 1 if failed else 0


def _schema(args: argparse.Namespace) -> int:
    if args.out:
        print(f"wrote {write_json_schema(args.out)}")
    else:
        print(json.dumps(rule_json_schema(), indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.dir is None:
        return _list_both()
    folder: Path = args.dir
    if not folder.is_dir():
        print(f"error: rules folder not found: {folder}", file=sys.stderr)
        return 1
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in rule_files([folder]):
        where = version_from_path(path)
        if where is None:
            continue  # not rules/<rule_id>/v<version>.yaml
        rule, issues = validate_file(path)
        status = rule.name if rule else f"INVALID ({len(issues)} error(s); run ita rules validate {path})"
        found[where[0]].append((where[1], status))
    if not found:
        print(f"no rules under {folder}")
        return 0
    for rule_id in sorted(found, key=str.lower):
        versions = sorted(found[rule_id], key=lambda v: version_key(v[0]))
        print(f"{rule_id}: " + ", ".join(f"v{v}" for v, _ in versions))
        for version, status in versions:
            print(f"  v{version}: {status}")
    return 0


def _list_both() -> int:
    """The core's listing: the shipped rules (read-only) and the user's own folder, each version's origin said."""
    from ita_desktop.cli.core_factory import build_core

    with build_core() as core:
        entries = core.rules.list()
        folders = f"shipped: {core.rules.shipped_dir}; yours: {core.rules.user_dir}"
    if not entries:
        print(f"no rules ({folders})")
        return 0
    print(folders)
    by_rule: dict[str, list] = defaultdict(list)
    for entry in entries:
        by_rule[entry.rule_id].append(entry)
    for rule_id, versions in by_rule.items():
        print(f"{rule_id}: " + ", ".join(f"v{e.version}" for e in reversed(versions)))
        for e in reversed(versions):
            status = e.name if e.valid else f"INVALID ({len(e.problems)} error(s); run ita rules validate {e.path})"
            print(f"  v{e.version} [{'yours' if e.origin == 'user' else 'shipped'}]: {status}")
    return 0
