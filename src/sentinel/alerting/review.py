"""What people write into a review (复盘): its causes, what went well or badly, what to improve.

Notes are audit entries (``audit_log``, action ``review.note``, target ``review:WATCH``): the
audit trail already records who wrote what and when, append-only, which is what a review's
written part needs. The report shows every note of a section, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.alerting.manage import MAX_LIST, audit
from sentinel.clock import Clock
from sentinel.store.base import Store

__all__ = ["SECTIONS", "ReviewNote", "ReviewNotes", "section_name"]

# the written sections of a 复盘, in the report's order; English names are accepted too
SECTIONS = ("原因", "得失", "改进")
SECTION_ALIASES = {"cause": "原因", "causes": "原因", "lessons": "得失", "gains": "得失", "improve": "改进"}
MAX_NOTE = 4000


@dataclass(frozen=True, slots=True)
class ReviewNote:
    watch: str
    section: str
    text: str
    by: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "watch": self.watch,
            "section": self.section,
            "text": self.text,
            "by": self.by,
            "at": self.at.isoformat(),
        }


def section_name(value: str) -> str:
    """``原因`` / ``得失`` / ``改进`` (or cause / lessons / improve)."""
    name = SECTION_ALIASES.get(value.strip().lower(), value.strip())
    if name not in SECTIONS:
        raise ValueError(f"section must be one of {', '.join(SECTIONS)}, got {value!r}")
    return name


class ReviewNotes:
    """Add and read the written part of a watch's review."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def add(self, watch: str, section: str, text: str, *, actor: str) -> ReviewNote:
        section = section_name(section)
        text = text.strip()
        if not text:
            raise ValueError("a review note needs some text")
        if len(text) > MAX_NOTE:
            raise ValueError(f"a review note is at most {MAX_NOTE} characters, this one has {len(text)}")
        if not watch.strip():
            raise ValueError("a review note needs a watch name")
        now = self.clock.now()
        data = {"watch": watch, "section": section, "text": text}
        entry = audit(now, actor, "review.note", f"review:{watch}", data)
        await self.store.add_audit(entry)
        return ReviewNote(watch, section, text, entry.actor, now)

    async def list(self, watch: str) -> list[ReviewNote]:
        """Oldest first."""
        entries = await self.store.audit_trail(target=f"review:{watch}", limit=MAX_LIST)
        notes = []
        for e in reversed(entries):
            section, text = e.data.get("section"), e.data.get("text")
            if e.action == "review.note" and section in SECTIONS and isinstance(text, str):
                notes.append(ReviewNote(watch, str(section), text, e.actor, e.at))
        return notes
