"""The rule language as JSON Schema, for the rule editor's completion and hover help.

Generated from the pydantic models (their field docstrings are the descriptions), so the
schema cannot drift from what the loader accepts. Cross-key rules (step references,
"exactly one of") are not expressible in JSON Schema and stay in the loader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ita_desktop.rules.schema import Rule

SCHEMA_ID = "https://ita-desktop.local/schemas/rule.json"


def rule_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rule file."""
    schema = Rule.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def write_json_schema(path: str | Path) -> Path:
    """Write the schema as indented JSON to ``path`` (folders created) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rule_json_schema(), indent=2) + "\n", encoding="utf-8")
    return path
