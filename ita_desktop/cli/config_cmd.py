"""`ita config` (where things live, the merged settings) and `ita secret` (keyring, never argv or files)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from ita_desktop import secrets
from ita_desktop.config import load_settings
from ita_desktop.paths import app_paths


def register(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="show folders and settings")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("path", help="print the data, config, log and cache folders").set_defaults(func=_path)
    show = config_sub.add_parser("show", help="print the merged settings (defaults + your config.yaml)")
    show.set_defaults(func=_show)

    secret = sub.add_parser("secret", help="store API keys and tokens in the OS keyring")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True)
    put = secret_sub.add_parser("set", help="read the value from a hidden prompt or standard input")
    put.add_argument("name", choices=secrets.KNOWN)
    put.set_defaults(func=_secret_set)
    delete = secret_sub.add_parser("delete")
    delete.add_argument("name", choices=secrets.KNOWN)
    delete.set_defaults(func=_secret_delete)
    secret_sub.add_parser("list", help="which secrets are set (never their values)").set_defaults(func=_secret_list)


def _path(args: argparse.Namespace) -> int:
    paths = app_paths()
    for name in ("data", "config", "logs", "cache"):
        print(f"{name:7} {getattr(paths, name)}")
    print(f"{'db':7} {paths.database}")
    print(f"{'user':7} {paths.user_config_file}")
    return 0


def _show(args: argparse.Namespace) -> int:
    print(json.dumps(load_settings().model_dump(mode="json"), indent=2))
    return 0


def _secret_set(args: argparse.Namespace) -> int:
    value = getpass.getpass(f"{args.name}: ") if sys.stdin.isatty() else sys.stdin.readline()
    secrets.set_secret(args.name, value)  # strips the line end (\n or \r\n); blank or no keyring: SecretStoreError
    print(f"{args.name} stored in the OS keyring")
    return 0


def _secret_delete(args: argparse.Namespace) -> int:
    secrets.delete_secret(args.name)
    print(f"{args.name} deleted")
    return 0


def _secret_list(args: argparse.Namespace) -> int:
    for name in secrets.KNOWN:
        print(f"{name:20} {'set' if secrets.has_secret(name) else '-'}")
    return 0
