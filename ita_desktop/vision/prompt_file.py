"""The review prompt: a versioned text file in prompts/, its version stored with every review.

A trader may read and edit what the model is asked; the header line ``version: <name>/<n>``
names the text, so a review's result is always attached to the words that produced it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ita_desktop.domain.errors import ItaError

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
DEFAULT_PROMPT = "chart_review_v1.md"


@dataclass(frozen=True)
class Prompt:
    version: str  # "chart_review/1@<first 8 hex of the text's sha256>": an edited text is a new version
    text: str
    path: Path


def load_prompt(path: Path | None = None) -> Prompt:
    """Read the prompt file; a missing header is an error naming the file and line 1."""
    path = Path(path) if path is not None else PROMPTS_DIR / DEFAULT_PROMPT
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ItaError(f"{path}: cannot read the review prompt: {exc.strerror or exc}") from None
    head, sep, body = raw.partition("\n---\n")
    if not sep or not head.startswith("version:"):
        raise ItaError(f"{path}:1:1: a review prompt starts with 'version: <name>/<n>' then a '---' line")
    name = head.split(":", 1)[1].strip()
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:8]
    return Prompt(f"{name}@{digest}", body.strip(), path)
