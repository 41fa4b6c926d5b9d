"""Turning a booking's raw tracking into source / medium / campaign / channel."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET = "(direct)", "(none)", "(not set)"


@dataclass(frozen=True)
class Attribution:
    source: str
    medium: str
    campaign: str
    content: str
    term: str
    channel: str
    visitor_id: str
    self_reported_source: str

    def as_fields(self) -> dict:
        return asdict(self)


def attribution_compute(*, tracking: dict, questions_and_answers: list) -> Attribution:
    """Untagged bookings stay visible as (direct) instead of disappearing."""
    values = {k: (str(tracking.get(f"utm_{k}") or "").strip().lower()) for k in ("source", "medium", "campaign", "content", "term")}
    if not any(values[k] for k in ("source", "medium", "campaign", "content")):
        return Attribution(DIRECT_SOURCE, DIRECT_MEDIUM, NOT_SET, "", "", "Direct", values["term"], "")
    return Attribution(
        source=values["source"] or NOT_SET,
        medium=values["medium"] or NOT_SET,
        campaign=values["campaign"] or NOT_SET,
        content=values["content"],
        term=values["term"],
        channel="Unassigned",
        visitor_id="",
        self_reported_source="",
    )
