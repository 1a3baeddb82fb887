"""What the model must answer: a pydantic schema sent as the JSON schema of the structured output.

Every field is required (nullable where it may be absent) so the same schema serves strict
``json_schema`` servers and the JSON-mode fallback, where it is checked after the fact.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Annotation(BaseModel):
    """One drawing: a level (price), a zone (price..price2 over time..time2), an arrow (time,price ->
    time2,price2) or a label (time, price). ``ref_id`` is the detector id it refers to, if any."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["level", "zone", "arrow", "label"]
    text: str = Field(description="short caption drawn on the chart")
    price: float = Field(description="the level; a zone's top; an arrow's head; a label's price")
    price2: float | None = Field(description="a zone's bottom or an arrow's start price; else null")
    time: str | None = Field(description="ISO UTC time (from the context's bars) the drawing starts at; null: whole window")
    time2: str | None = Field(description="ISO UTC time a zone ends or an arrow's head is at; else null")
    ref_id: str | None = Field(description="id of the detector object from the context this refers to; else null")


class TradeIdea(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["long", "short"]
    entry: float
    stop: float
    targets: list[float] = Field(min_length=1)
    invalidation: str = Field(description="what on the chart would make the idea wrong")


class ReviewAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias: Literal["bullish", "bearish", "neutral"]
    confidence: float = Field(ge=0.0, le=1.0, description="probability (0..1) that price moves in the bias' direction")
    summary: str
    annotations: list[Annotation]
    trade_idea: TradeIdea | None
    risks: list[str]


def response_schema() -> dict:
    """The schema as the ``json_schema`` response format (name + schema, not strict: constraints kept)."""
    return {"name": "chart_review", "description": "A second opinion on a trading chart",
            "schema": ReviewAnswer.model_json_schema(), "strict": False}
